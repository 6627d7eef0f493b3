using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>One upstream of the list: its name (the connection string's) and where it is.</summary>
/// <param name="Name">The connection string's name (<c>openai</c>, <c>openai-2</c>, ...): short, never secret, so it names the upstream in telemetry.</param>
/// <param name="Connection">Endpoint, key and the models it serves.</param>
public sealed record OpenAIUpstream(string Name, OpenAIConnection Connection);

/// <summary>
/// The upstreams, in priority order: the connection string <c>openai</c> (the one that must exist), then
/// <c>openai-2</c>, <c>openai-3</c>, ... as a person adds them. A call goes to the first that can serve it and
/// moves to the next on a failure of that upstream. One upstream is simply a list of one.
/// </summary>
public sealed class OpenAIUpstreams
{
    /// <summary>The upstreams, first = primary.</summary>
    /// <param name="all">At least one.</param>
    public OpenAIUpstreams(IReadOnlyList<OpenAIUpstream> all)
    {
        ArgumentNullException.ThrowIfNull(all);
        if (all.Count == 0)
        {
            throw new ArgumentException("At least one upstream is needed.", nameof(all));
        }

        All = all;
    }

    /// <summary>The upstreams in priority order.</summary>
    public IReadOnlyList<OpenAIUpstream> All { get; }

    /// <summary>The upstream of this name, if there is one.</summary>
    /// <param name="name">An upstream's name (its connection string's).</param>
    public OpenAIUpstream? Find(string name) => All.FirstOrDefault(u => string.Equals(u.Name, name, StringComparison.Ordinal));

    /// <summary>The name of the <paramref name="position"/>-th upstream (1-based): <c>openai</c>, <c>openai-2</c>, ...</summary>
    /// <param name="connectionName">The first upstream's connection string name.</param>
    /// <param name="position">1 for the primary.</param>
    public static string NameAt(string connectionName, int position) =>
        position == 1 ? connectionName : $"{connectionName}-{position.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Reads <c>ConnectionStrings:{connectionName}</c>, then <c>{connectionName}-2</c>, <c>-3</c>, ... until one is missing.
    /// A numbered one after a gap would be silently ignored, so it stops start-up with a message that names it.
    /// </summary>
    /// <param name="configuration">The application's configuration.</param>
    /// <param name="connectionName">The first upstream's connection string name.</param>
    /// <exception cref="InvalidOperationException">A connection string is missing, malformed, or numbered past a gap (the message names it).</exception>
    public static OpenAIUpstreams Read(IConfiguration configuration, string connectionName = OpenAIConnection.Name)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var upstreams = new List<OpenAIUpstream>
        {
            new(connectionName, OpenAIConnection.Parse(configuration.GetConnectionString(connectionName), connectionName)),
        };
        for (var position = 2; ; position++)
        {
            var name = NameAt(connectionName, position);
            if (configuration.GetConnectionString(name) is not { Length: > 0 } value)
            {
                break;
            }

            upstreams.Add(new(name, OpenAIConnection.Parse(value, name)));
        }

        var prefix = connectionName + "-";
        foreach (var child in configuration.GetSection("ConnectionStrings").GetChildren())
        {
            if (child.Key.StartsWith(prefix, StringComparison.Ordinal)
                && int.TryParse(child.Key.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var position)
                && position > upstreams.Count + 1
                && !string.IsNullOrEmpty(child.Value))
            {
                throw new InvalidOperationException(
                    $"ConnectionStrings:{child.Key} is set but ConnectionStrings:{NameAt(connectionName, upstreams.Count + 1)} is not: " +
                    $"upstreams are numbered {connectionName}, {connectionName}-2, {connectionName}-3, ... with no gap.");
            }
        }

        return new OpenAIUpstreams(upstreams);
    }
}
