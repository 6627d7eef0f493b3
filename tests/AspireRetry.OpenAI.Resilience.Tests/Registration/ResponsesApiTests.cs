extern alias emulator;

#pragma warning disable OPENAI001 // The Responses API is experimental in OpenAI 2.15; these tests pin that it goes through the layer.

using System.Net.Http.Json;
using System.Text.Json.Nodes;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;
using OpenAI.Responses;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The Responses API on the injected <see cref="OpenAIClient"/>: plain calls are retried by the layer like chat, and a
/// stream whose answer has begun is never sent again.
/// </summary>
public sealed class ResponsesApiTests : IAsyncLifetime
{
    private const string Key = "responses-test-key";
    private const int ServerWaitMs = 300;
    private WebApplication _emulator = null!;
    private HttpClient _emulatorClient = null!;
    private IHost _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _emulator = EmulatorApp.Create(["--urls=http://127.0.0.1:0", $"--Emulator:ApiKey={Key}", "--Logging:LogLevel:Default=Warning"]);
        await _emulator.StartAsync(Ct);
        _emulatorClient = new HttpClient { BaseAddress = _emulator.GetBaseAddress() };

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint={new Uri(_emulator.GetBaseAddress(), "/v1")};Key={Key}",
        });
        builder.AddResilientOpenAI();
        _app = builder.Build();
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        _app.Dispose();
        _emulatorClient.Dispose();
        await _emulator.DisposeAsync();
    }

    [Fact]
    public async Task A_responses_call_waits_out_a_429_retries_a_503_and_gets_its_answer()
    {
        await ScriptAsync($"429:retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok");
        var responses = _app.Services.GetRequiredService<OpenAIClient>().GetResponsesClient();

        ResponseResult response = await responses.CreateResponseAsync("gpt-4o", "Hello Responses", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(response.GetOutputText()));
        var seen = await SeenAsync();
        Assert.Equal([("responses", "rate_limit"), ("responses", "service_unavailable"), ("responses", "ok")], seen.Select(r => (r.Operation, r.Outcome)));
        Assert.True(seen[1].ReceivedAt - seen[0].ReceivedAt >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {(seen[1].ReceivedAt - seen[0].ReceivedAt).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms"); // - 1: the log rounds to the millisecond
    }

    [Fact]
    public async Task A_responses_stream_cut_after_its_answer_began_is_not_sent_again()
    {
        await ScriptAsync("disconnect:after=3", "ok");
        var responses = _app.Services.GetRequiredService<OpenAIClient>().GetResponsesClient();

        var received = 0;
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var stream = await responses.CreateResponseStreamingAsync("gpt-4o", "Hello stream", cancellationToken: Ct);
            await foreach (var _ in stream)
            {
                received++;
            }
        });

        Assert.True(received > 0, "the stream broke before its first event");
        Assert.Equal(["responses"], (await SeenAsync()).Select(r => r.Operation)); // one request: the break is the caller's to see
    }

    private async Task ScriptAsync(params string[] outcomes) =>
        (await _emulatorClient.PostAsJsonAsync("/emulator/chaos/script", new { outcomes }, Ct)).EnsureSuccessStatusCode();

    private async Task<List<(string Operation, string Outcome, DateTimeOffset ReceivedAt)>> SeenAsync()
    {
        var log = (await _emulatorClient.GetFromJsonAsync<JsonArray>("/emulator/requests?limit=100", Ct))!;
        return [.. log.Select(r => (r!["operation"]!.GetValue<string>(), r["outcome"]!.GetValue<string>(),
                DateTimeOffset.Parse(r["receivedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(r => r.Item3)];
    }
}
