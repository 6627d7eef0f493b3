extern alias emulator;

using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The emulator in this process, for tests of the layer with the real SDKs: it accepts one key (and, when given, bearer
/// tokens), plays scripted outcomes, and tells what it saw.
/// </summary>
internal sealed class InProcessEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _client;

    private InProcessEmulator(WebApplication app)
    {
        _app = app;
        _client = new HttpClient { BaseAddress = app.GetBaseAddress() };
    }

    /// <summary>Where it listens (no path).</summary>
    public Uri BaseAddress => _app.GetBaseAddress();

    /// <summary>Its OpenAI-style API: <c>{BaseAddress}/v1</c>.</summary>
    public Uri V1 => new(BaseAddress, "/v1");

    /// <summary>Starts an emulator that accepts <paramref name="key"/> and the bearer <paramref name="tokens"/>.</summary>
    public static async Task<InProcessEmulator> StartAsync(string key, params string[] tokens)
    {
        var app = EmulatorApp.Create([
            "--urls=http://127.0.0.1:0", $"--Emulator:ApiKey={key}", "--Logging:LogLevel:Default=Warning",
            .. tokens.Select((token, i) => $"--Emulator:AcceptedBearerTokens:{i}={token}")]);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new InProcessEmulator(app);
    }

    /// <summary>The next requests' outcomes, in order (the emulator's script grammar: <c>429:retry-after-ms=300</c>, <c>503</c>, <c>ok</c>...).</summary>
    public async Task ScriptAsync(params string[] outcomes) =>
        (await _client.PostAsJsonAsync("/emulator/chaos/script", new { outcomes }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();

    /// <summary>Sets its chaos profile (the emulator's JSON, camelCase: <c>{"rateLimiter":{...}}</c>).</summary>
    public async Task PutProfileAsync(string json)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        (await _client.PutAsync("/emulator/chaos", content, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
    }

    /// <summary>The requests it received, oldest first.</summary>
    public async Task<List<SeenRequest>> SeenAsync()
    {
        var log = (await _client.GetFromJsonAsync<JsonArray>("/emulator/requests?limit=100", TestContext.Current.CancellationToken))!;
        return [.. log.Select(r => new SeenRequest(
                Text(r, "operation"), Text(r, "dialect"), Text(r, "auth"), Text(r, "outcome"), Text(r, "path"),
                DateTimeOffset.Parse(Text(r, "receivedAt"), CultureInfo.InvariantCulture)))
            .OrderBy(r => r.ReceivedAt)];
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    private static string Text(JsonNode? request, string name) => request?[name]?.GetValue<string>() ?? "";
}

/// <summary>One request as the emulator logged it.</summary>
internal sealed record SeenRequest(string Operation, string Dialect, string Auth, string Outcome, string Path, DateTimeOffset ReceivedAt)
{
    /// <summary>The time from <paramref name="earlier"/> to this one (the log rounds to the millisecond).</summary>
    public TimeSpan After(SeenRequest earlier) => ReceivedAt - earlier.ReceivedAt;
}
