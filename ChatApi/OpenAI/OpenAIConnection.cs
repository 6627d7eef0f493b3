using System.Data.Common;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>
/// The upstream, from the connection string <c>openai</c>: <c>Endpoint=&lt;base url ending in /v1&gt;;Key=&lt;key&gt;</c>.
/// The AppHost sets it (to the emulator, or to what the user configured); anything else is a start-up error.
/// </summary>
public sealed record OpenAIConnection(Uri Endpoint, string Key)
{
    public const string Name = "openai";
    private const string Example = "Endpoint=https://api.openai.com/v1;Key=sk-...";

    /// <summary>Never prints the key.</summary>
    public override string ToString() => $"Endpoint={Endpoint}";

    public static OpenAIConnection Parse(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{Name} is missing. Set it to '{Example}' (the AppHost does this for you).");
        }

        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            // The message of ArgumentException may quote the string, key included: say what is wrong instead.
            throw new InvalidOperationException(
                $"ConnectionStrings:{Name} is not a valid connection string. Expected '{Example}'.");
        }

        var endpointText = builder.TryGetValue("Endpoint", out var e) ? e?.ToString() : null;
        if (string.IsNullOrWhiteSpace(endpointText)
            || !Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint)
            || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{Name} needs Endpoint=<http(s) base url ending in /v1>, e.g. '{Example}'.");
        }

        var key = builder.TryGetValue("Key", out var k) ? k?.ToString() : null;
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{Name} needs Key=<api key>, e.g. '{Example}'.");
        }

        return new OpenAIConnection(endpoint, key);
    }
}
