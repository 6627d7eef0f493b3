using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>What both app fixtures (one upstream, two upstreams) do alike with the AppHost's model and the running app.</summary>
internal static class AppModel
{
    public static ProjectResource Project(IDistributedApplicationTestingBuilder builder, string name) =>
        builder.Resources.OfType<ProjectResource>().Single(r => r.Name == name);

    /// <summary>A client for ChatApi whose calls carry this caller key, as W3C baggage, through to the emulators.</summary>
    public static HttpClient ChatApiFor(DistributedApplication app, string caller)
    {
        var client = app.CreateHttpClient("chatapi", "http");
        client.DefaultRequestHeaders.Add("baggage", $"emulator.caller={caller}");
        return client;
    }
}
