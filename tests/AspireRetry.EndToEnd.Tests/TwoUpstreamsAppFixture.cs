using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// The whole Aspire application with two emulators as upstreams (<c>AppHost:Upstreams=2</c>): <c>openai</c> is
/// <c>openai-emulator</c>, <c>openai-2</c> is <c>openai-emulator-2</c>. A second app beside the assembly's, so that taking
/// its primary down (a chaos profile is global per emulator, and a breaker is global per ChatApi) never touches the
/// single-upstream tests; its own tests share it one at a time (<see cref="TwoUpstreamsCollection"/>).
/// </summary>
public sealed class TwoUpstreamsAppFixture : IAsyncLifetime
{
    public const string Primary = "openai-emulator";
    public const string Secondary = "openai-emulator-2";

    public DistributedApplication App { get; private set; } = null!;
    public HttpClient PrimaryEmulator { get; private set; } = null!;
    public HttpClient SecondaryEmulator { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        using var cancel = new CancellationTokenSource(AspireAppFixture.StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = true },
            [
                $"--AppHost:DashboardApiKey={AspireAppFixture.DashboardApiKey}",
                "--ConnectionStrings:openai=",
                "--AppHost:Upstreams=2",
            ],
            cancel.Token);

        builder.CreateResourceBuilder(AppModel.Project(builder, "chatapi"))
            .WithEnvironment("OpenAI__Resilience__MaxRetryAttempts", AspireAppFixture.MaxRetryAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("OpenAI__Resilience__BaseDelay", "00:00:00.050")
            .WithEnvironment("OpenAI__Resilience__MaxDelay", "00:00:00.200")
            // Down after two failures in a row (a quarter of MinimumThroughput, at least 2), checked again within 0.5 s
            // (the least BreakDuration allowed): the failover and the return both show within a few messages.
            .WithEnvironment("OpenAI__Resilience__CircuitBreaker__MinimumThroughput", "8")
            .WithEnvironment("OpenAI__Resilience__CircuitBreaker__BreakDuration", "00:00:00.500")
            .WithEnvironment("Chat__RateLimit__PermitsPerWindow", "100000");
        foreach (var emulator in (string[])[Primary, Secondary])
        {
            builder.CreateResourceBuilder(AppModel.Project(builder, emulator))
                .WithEnvironment("Emulator__FirstTokenDelayMs", "20")
                .WithEnvironment("Emulator__TokensPerSecond", "400");
        }

        App = await builder.BuildAsync(cancel.Token);
        await App.StartAsync(cancel.Token);
        foreach (var name in (string[])[Primary, Secondary, "chatapi", "webfrontend"])
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(name, cancel.Token);
        }

        PrimaryEmulator = App.CreateHttpClient(Primary, "http");
        SecondaryEmulator = App.CreateHttpClient(Secondary, "http");
    }

    /// <summary>A client for ChatApi whose calls carry this caller key, as W3C baggage, through to both emulators.</summary>
    public HttpClient ChatApiFor(string caller) => AppModel.ChatApiFor(App, caller);

    /// <summary>One streamed chat; returns the upstream its done event names (null if it did not end with done).</summary>
    public static async Task<string?> ChatAsync(HttpClient chatApi, string text, CancellationToken cancellationToken)
    {
        using var response = await chatApi.PostAsJsonAsync("/api/chat/stream",
            new { model = "gpt-4o", messages = new[] { new { role = "user", content = text } } }, cancellationToken);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        string? upstream = null;
        await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(stream).EnumerateAsync(cancellationToken))
        {
            if (item.EventType == "done")
            {
                upstream = JsonDocument.Parse(item.Data).RootElement.GetProperty("upstream").GetString();
            }
        }

        return upstream;
    }

    /// <summary>
    /// Both emulators calm, no scripts, and the primary serving again (its breaker closed: a chat answered by it,
    /// polled with a bound), then zeroed counters: each test starts from the same place whatever the last one did.
    /// </summary>
    public async Task ResetAsync(CancellationToken cancellationToken)
    {
        foreach (var emulator in (HttpClient[])[PrimaryEmulator, SecondaryEmulator])
        {
            (await emulator.DeleteAsync("/emulator/chaos", cancellationToken)).EnsureSuccessStatusCode();
            (await emulator.DeleteAsync("/emulator/chaos/script", cancellationToken)).EnsureSuccessStatusCode();
        }

        using var probe = ChatApiFor($"reset-{Guid.NewGuid():N}");
        await Poll.UntilAsync(TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(50),
            async () => await ChatAsync(probe, "Are you back?", cancellationToken) == "openai");

        foreach (var emulator in (HttpClient[])[PrimaryEmulator, SecondaryEmulator])
        {
            (await emulator.PostAsync("/emulator/stats/reset", null, cancellationToken)).EnsureSuccessStatusCode();
        }
    }

    /// <summary>The outcomes an emulator saw, for one caller or (null) for every request since the last reset.</summary>
    public static async Task<List<string>> OutcomesAsync(HttpClient emulator, string? caller, CancellationToken cancellationToken)
    {
        var query = caller is null ? "" : $"caller={Uri.EscapeDataString(caller)}&";
        var seen = await emulator.GetFromJsonAsync<JsonElement[]>($"/emulator/requests?{query}limit=1000", cancellationToken) ?? [];
        return [.. seen.Select(r => r.GetProperty("outcome").GetString()!)];
    }

    public async ValueTask DisposeAsync()
    {
        PrimaryEmulator?.Dispose();
        SecondaryEmulator?.Dispose();
        if (App is not null)
        {
            await App.DisposeAsync();
        }
    }
}

/// <summary>The tests of the two-upstream app: one at a time, as they take its primary down.</summary>
[CollectionDefinition(Name)]
public sealed class TwoUpstreamsCollection : ICollectionFixture<TwoUpstreamsAppFixture>
{
    public const string Name = "two upstreams";
}
