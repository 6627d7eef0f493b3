using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

[assembly: AssemblyFixture(typeof(AspireRetry.EndToEnd.Tests.AspireAppFixture))]

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// The whole Aspire application, started once for the assembly exactly as <c>dotnet run --project AppHost</c>
/// would (emulator upstream, no key), with the dashboard on and a known telemetry API key. Only the
/// retry delays are shortened, so failing scenarios take milliseconds instead of seconds.
/// </summary>
public sealed class AspireAppFixture : IAsyncLifetime
{
    public const string DashboardApiKey = "e2e-dashboard-api-key-7d2c";
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    public DistributedApplication App { get; private set; } = null!;
    public HttpClient ChatApi { get; private set; } = null!;
    public HttpClient Emulator { get; private set; } = null!;

    /// <summary>Policy numbers the test run gives ChatApi; the rest are the shipped defaults.</summary>
    public const int MaxRetryAttempts = 3;

    public async ValueTask InitializeAsync()
    {
        using var cancel = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = true },
            [
                $"--AppHost:DashboardApiKey={DashboardApiKey}",
                // Whatever the developer's user secrets say, the tests run against the emulator.
                "--ConnectionStrings:openai=",
            ],
            cancel.Token);

        builder.CreateResourceBuilder(AppModel.Project(builder, "chatapi"))
            .WithEnvironment("OpenAI__Resilience__MaxRetryAttempts", MaxRetryAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("OpenAI__Resilience__BaseDelay", "00:00:00.050")
            .WithEnvironment("OpenAI__Resilience__MaxDelay", "00:00:00.200")
            // One app serves every test: a breaker opened by one test's failures would fail the next
            // test's calls. The breaker has its own tests in ChatApi.Tests; here it never trips.
            .WithEnvironment("OpenAI__Resilience__CircuitBreaker__MinimumThroughput", "100000")
            // The tests' direct calls all come from one address: ChatApi's per-client limit is not what they test.
            .WithEnvironment("Chat__RateLimit__PermitsPerWindow", "100000");
        builder.CreateResourceBuilder(AppModel.Project(builder, "openai-emulator"))
            .WithEnvironment("Emulator__FirstTokenDelayMs", "20")
            .WithEnvironment("Emulator__TokensPerSecond", "400");

        App = await builder.BuildAsync(cancel.Token);
        await App.StartAsync(cancel.Token);
        foreach (var name in (string[])["openai-emulator", "chatapi", "webfrontend"])
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(name, cancel.Token);
        }

        ChatApi = App.CreateHttpClient("chatapi", "http");
        Emulator = App.CreateHttpClient("openai-emulator", "http");
    }

    /// <summary>A client for ChatApi whose calls carry this caller key, as W3C baggage, through to the emulator.</summary>
    public HttpClient ChatApiFor(string caller) => AppModel.ChatApiFor(App, caller);

    /// <summary>Queues exact outcomes; scoped to a caller key, or for every caller (the browser's requests carry none).</summary>
    public async Task ScriptAsync(string? caller, params string[] outcomes)
    {
        using var response = await Emulator.PostAsJsonAsync("/emulator/chaos/script", new { outcomes, caller });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Calm profile, no scripted outcomes, zeroed counters.</summary>
    public async Task ResetEmulatorAsync()
    {
        (await Emulator.DeleteAsync("/emulator/chaos")).EnsureSuccessStatusCode();
        (await Emulator.DeleteAsync("/emulator/chaos/script")).EnsureSuccessStatusCode();
        (await Emulator.PostAsync("/emulator/stats/reset", null)).EnsureSuccessStatusCode();
    }

    public async Task<int> UpstreamRequestsAsync(string caller)
    {
        var seen = await Emulator.GetFromJsonAsync<JsonElement[]>($"/emulator/requests?caller={Uri.EscapeDataString(caller)}&limit=1000");
        return seen?.Length ?? 0;
    }

    public async ValueTask DisposeAsync()
    {
        ChatApi?.Dispose();
        Emulator?.Dispose();
        if (App is not null)
        {
            await App.DisposeAsync();
        }
    }
}
