extern alias emulator;

using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;

[assembly: AssemblyFixture(typeof(AspireRetry.ChatApi.Tests.ChatApiFixture))]

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// The real emulator on a loopback port (so resets and hangs are real socket events) and ChatApi in
/// process, wired to it through its connection string. Started once for the assembly; each test
/// scopes its scripted outcomes to its own caller key, which ChatApi forwards as W3C baggage.
/// </summary>
public sealed class ChatApiFixture : IAsyncLifetime
{
    public const string ApiKey = "sk-test-4f6d1c9a8b7e";

    private WebApplication? _emulator;

    public Uri EmulatorAddress { get; private set; } = null!;

    /// <summary>A plain client for the emulator's own endpoints (/emulator/*, /v1/*).</summary>
    public HttpClient Emulator { get; private set; } = null!;

    public WebApplicationFactory<Program> Api { get; private set; } = null!;

    /// <summary>Policy numbers for tests: milliseconds, not seconds, and a breaker that stays closed.</summary>
    public static readonly Dictionary<string, string?> TestPolicy = new()
    {
        ["OpenAI:Resilience:MaxRetryAttempts"] = "3",
        ["OpenAI:Resilience:BaseDelay"] = "00:00:00.020",
        ["OpenAI:Resilience:MaxDelay"] = "00:00:00.200",
        ["OpenAI:Resilience:MaxServerDelay"] = "00:00:03",
        ["OpenAI:Resilience:AttemptTimeout"] = "00:00:00.750",
        ["OpenAI:Resilience:StreamIdleTimeout"] = "00:00:00.750",
        ["OpenAI:Resilience:TotalTimeout"] = "00:00:06",
        ["OpenAI:Resilience:CircuitBreaker:MinimumThroughput"] = "100000",
        ["OpenAI:Resilience:CircuitBreaker:SamplingDuration"] = "00:00:02",
        // Every test shares one client key (the test server's address); admission tests set their own.
        ["Chat:RateLimit:PermitsPerWindow"] = "100000",

        // The shared app serves many tests at once, each scripting 429s for its own caller. A gate shared
        // per model, as in production, would let one test's Retry-After (30 s in one of them) hold all the
        // others. The rate-limit tests build their own app with it on.
        ["OpenAI:Resilience:RateLimit:Enabled"] = "false",
    };

    public async ValueTask InitializeAsync()
    {
        _emulator = EmulatorApp.Create(
        [
            "--urls=http://127.0.0.1:0",
            $"--Emulator:ApiKey={ApiKey}",
            "--Emulator:FirstTokenDelayMs=0",
            "--Emulator:TokensPerSecond=0",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await _emulator.StartAsync();
        EmulatorAddress = _emulator.GetBaseAddress();
        Emulator = new HttpClient { BaseAddress = EmulatorAddress };
        Api = CreateApi(TestPolicy);
    }

    /// <summary>ChatApi with the test policy, overridden where a test needs its own (e.g. a breaker that opens).</summary>
    public WebApplicationFactory<Program> CreateApi(IReadOnlyDictionary<string, string?> settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:openai", $"Endpoint={new Uri(EmulatorAddress, "/v1")};Key={ApiKey}");
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            foreach (var (key, value) in TestPolicy.Concat(settings).GroupBy(p => p.Key).Select(g => g.Last()))
            {
                web.UseSetting(key, value);
            }
        });

    /// <summary>A client for ChatApi whose requests carry this caller key to the emulator.</summary>
    public static HttpClient ClientFor(WebApplicationFactory<Program> api, string caller)
    {
        var client = api.CreateClient();
        // W3C baggage, written by OpenTelemetry's propagator (which escapes the value) rather than by hand.
        var baggage = new PropagationContext(default, Baggage.Create(new Dictionary<string, string> { ["emulator.caller"] = caller }));
        new BaggagePropagator().Inject(baggage, client.DefaultRequestHeaders, static (headers, name, value) => headers.Add(name, value));
        return client;
    }

    public HttpClient ClientFor(string caller) => ClientFor(Api, caller);

    public async Task ScriptAsync(string caller, params string[] outcomes)
    {
        var response = await Emulator.PostAsJsonAsync("/emulator/chaos/script", new { outcomes, caller });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Requests the emulator saw from this caller, in arrival order.</summary>
    public async Task<List<SeenRequest>> SeenAsync(string caller)
    {
        var seen = await Emulator.GetFromJsonAsync<List<SeenRequest>>($"/emulator/requests?caller={Uri.EscapeDataString(caller)}&limit=1000", JsonSerializerOptions.Web);
        return seen ?? [];
    }

    public async ValueTask DisposeAsync()
    {
        await Api.DisposeAsync();
        Emulator.Dispose();
        if (_emulator is not null)
        {
            await _emulator.StopAsync();
            await _emulator.DisposeAsync();
        }
    }
}

public sealed record SeenRequest(string? RequestId, DateTimeOffset ReceivedAt, string? Caller, string? Model, bool Stream, string Outcome, int? StatusCode, long? RetryAfterMs);

/// <summary>One server-sent event of /api/chat/stream, its data parsed.</summary>
public sealed record StreamEvent(string Type, JsonElement Data);

public static class ChatApiCalls
{
    public static object Body(string text, string model = "gpt-4o") =>
        new { model, messages = new[] { new { role = "user", content = text } } };

    public static async Task<List<StreamEvent>> StreamAsync(this HttpClient client, object body, CancellationToken cancellationToken = default)
    {
        using var response = await client.PostAsJsonAsync("/api/chat/stream", body, cancellationToken);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var events = new List<StreamEvent>();
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken))
        {
            events.Add(new StreamEvent(item.EventType, JsonDocument.Parse(item.Data).RootElement.Clone()));
        }

        return events;
    }
}
