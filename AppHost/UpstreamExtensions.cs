using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using AspireRetry.Contracts;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>The upstreams ChatApi calls, in priority order: real endpoints from connection strings, or emulators.</summary>
internal static class UpstreamExtensions
{
    /// <summary>The first upstream's connection string; the others are <c>openai-2</c>, <c>openai-3</c>, ... (what the retry library reads).</summary>
    private const string ConnectionName = "openai";

    /// <summary>Key of the number of emulators to start when no real endpoint is configured.</summary>
    private const string UpstreamsKey = "AppHost:Upstreams";

    /// <summary>
    /// With <c>ConnectionStrings:openai</c> set: that one and every <c>openai-2</c>, <c>openai-3</c>, ... after it. Otherwise
    /// <c>AppHost:Upstreams</c> emulators (1 by default: one upstream is the usual app), each with its own key and chaos buttons.
    /// </summary>
    public static (IReadOnlyList<IResourceBuilder<IResourceWithConnectionString>> Upstreams, IReadOnlyList<IResourceBuilder<ProjectResource>> Emulators)
        AddOpenAIUpstreams(this IDistributedApplicationBuilder builder)
    {
        var upstreams = new List<IResourceBuilder<IResourceWithConnectionString>>();
        var emulators = new List<IResourceBuilder<ProjectResource>>();
        if (builder.Configuration.GetConnectionString(ConnectionName) is { Length: > 0 })
        {
            for (var position = 1; builder.Configuration.GetConnectionString(Numbered(ConnectionName, position)) is { Length: > 0 }; position++)
            {
                upstreams.Add(builder.AddConnectionString(Numbered(ConnectionName, position)));
            }

            return (upstreams, emulators);
        }

        var count = EmulatorCount(builder.Configuration);
        for (var position = 1; position <= count; position++)
        {
            upstreams.Add(builder.AddOpenAIEmulator(EmulatorNames.At(position), Numbered(ConnectionName, position), out var emulator));
            if (position > 1)
            {
                // Every emulator is the same project with the same launch profile (http://localhost:5199): two endpoints on
                // one port are load-balanced as if they were replicas, so half of openai's requests reached openai-2 and
                // were refused its key (401). The first keeps 5199; the others get a free port (the dashboard links them).
                emulator.WithEndpoint("http", endpoint => endpoint.Port = null);
            }

            emulators.Add(emulator);
        }

        return (upstreams, emulators);
    }

    /// <summary>
    /// ChatApi references every upstream (its connection string reaches it) without waiting for them: it starts beside
    /// the emulators instead of after them (with the chat page starting beside ChatApi, the page answers about 1.3 s sooner
    /// on 2 cores: README, "Start and stop"), and a call made before an upstream answers
    /// is what its retry layer is for (a refused connection is retried).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithUpstreams(this IResourceBuilder<ProjectResource> project, IEnumerable<IResourceBuilder<IResourceWithConnectionString>> upstreams)
    {
        foreach (var upstream in upstreams)
        {
            project.WithReference(upstream);
        }

        return project;
    }

    /// <summary><c>name</c> for the first, <c>name-2</c>, <c>name-3</c>, ... after it.</summary>
    private static string Numbered(string name, int position) =>
        position == 1 ? name : $"{name}-{position.ToString(CultureInfo.InvariantCulture)}";

    private static int EmulatorCount(IConfiguration configuration)
    {
        var text = configuration[UpstreamsKey];
        if (text is null)
        {
            return 1;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > EmulatorNames.Max)
        {
            throw new InvalidOperationException($"{UpstreamsKey} must be a whole number from 1 to {EmulatorNames.Max} (emulators to start, in priority order); it is '{text}'.");
        }

        return count;
    }
}
