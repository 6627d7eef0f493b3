using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace AspireRetry.ChatApi.Tests;

/// <summary>The shared gate and the retry budget through ChatApi, against the real emulator.</summary>
public sealed class RateLimitGateIntegrationTests(ChatApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private WebApplicationFactory<Program> GatedApi(Dictionary<string, string?>? settings = null)
    {
        settings ??= [];
        settings["OpenAI:Resilience:RateLimit:Enabled"] = "true";
        return fixture.CreateApi(settings);
    }

    [Fact]
    public async Task A_429_for_one_call_holds_the_next_call_to_that_model_until_its_retry_after_and_the_caller_hears_why()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Experimental.Microsoft.Extensions.AI",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var api = GatedApi();
        var first = $"gate-a-{Guid.NewGuid():N}";
        var second = $"gate-b-{Guid.NewGuid():N}";
        await fixture.ScriptAsync(first, "429:retry-after-ms=600", "ok");

        // The first call's attempt event comes after the gate has learned from its 429.
        using var firstClient = ChatApiFixture.ClientFor(api, first);
        using var firstResponse = await firstClient.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/api/chat/stream") { Content = JsonContent.Create(ChatApiCalls.Body("Hello")) },
            HttpCompletionOption.ResponseHeadersRead, Ct);
        var firstEvents = System.Net.ServerSentEvents.SseParser.Create(await firstResponse.Content.ReadAsStreamAsync(Ct)).EnumerateAsync(Ct).GetAsyncEnumerator(Ct);
        while (await firstEvents.MoveNextAsync() && firstEvents.Current.EventType != "attempt")
        {
        }

        var events = await ChatApiFixture.ClientFor(api, second).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        var attempts = events.Where(e => e.Type == "attempt").Select(e => e.Data).ToList();
        Assert.True(attempts.Count >= 2, string.Join("\n", events.Select(e => $"{e.Type} {e.Data}")));
        var wait = attempts[0];
        Assert.Equal(1, wait.GetProperty("number").GetInt32());
        Assert.Equal(AspireRetry.Contracts.AttemptEvent.RateLimitWait, wait.GetProperty("outcome").GetString()); // what the chat page reads
        Assert.Equal(JsonValueKind.Null, wait.GetProperty("statusCode").ValueKind);
        Assert.Equal("waiting for rate limit", wait.GetProperty("reason").GetString());
        Assert.InRange(wait.GetProperty("delayMs").GetInt64(), 1, 610);
        Assert.Equal(200, attempts[^1].GetProperty("statusCode").GetInt32());
        Assert.Equal("done", events[^1].Type);

        // The same wait is an event on the call's GenAI span, the parent of its attempts.
        var traceId = events[0].Data.GetProperty("traceId").GetString();
        var chat = Assert.Single(spans, s => s.TraceId.ToHexString() == traceId && s.DisplayName == "chat gpt-4o");
        var gateWait = Assert.Single(chat.Events, e => e.Name == "rate_limit.gate_wait");
        Assert.Equal(wait.GetProperty("delayMs").GetInt64(), gateWait.Tags.First(t => t.Key == "rate_limit.wait_ms").Value);
        Assert.Equal("closed", gateWait.Tags.First(t => t.Key == "rate_limit.reason").Value);

        var limited = Assert.Single(await fixture.SeenAsync(first), r => r.StatusCode == 429);
        var held = Assert.Single(await fixture.SeenAsync(second));
        Assert.True(held.ReceivedAt >= limited.ReceivedAt.AddMilliseconds(600 - 1),
            $"the second call reached the upstream {(held.ReceivedAt - limited.ReceivedAt).TotalMilliseconds} ms after a 429 that said to wait 600 ms");
        while (await firstEvents.MoveNextAsync())
        {
        }

        await firstEvents.DisposeAsync();
    }

    [Fact]
    public async Task During_a_long_outage_the_retry_budget_brings_upstream_requests_per_call_towards_one()
    {
        // 10% of calls may be retried, plus 2 retries per 10 s window; without it each call would make 4 requests.
        await using var api = GatedApi(new()
        {
            ["OpenAI:Resilience:RateLimit:RetryBudget:Ratio"] = "0.1",
            ["OpenAI:Resilience:RateLimit:RetryBudget:MinRetriesPerSecond"] = "0.2",
            ["OpenAI:Resilience:RateLimit:RetryBudget:Window"] = "00:00:10",
        });
        var caller = $"outage-{Guid.NewGuid():N}";
        await fixture.ScriptAsync(caller, [.. Enumerable.Repeat("500", 200)]);
        using var client = ChatApiFixture.ClientFor(api, caller);
        const int calls = 20;

        var details = new List<string>();
        for (var i = 0; i < calls; i++)
        {
            using var response = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            details.Add((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString()!);
        }

        var requests = (await fixture.SeenAsync(caller)).Count;
        TestContext.Current.TestOutputHelper?.WriteLine($"Outage: {requests} upstream requests for {calls} calls ({(double)requests / calls:0.00} per call; 4 without the budget).");
        Assert.InRange((double)requests / calls, 1.0, 1.3);
        Assert.Contains("retry budget is spent", details[^1], StringComparison.Ordinal);
        Assert.Contains("Circuit breaker: Closed", details[^1], StringComparison.Ordinal);
    }
}
