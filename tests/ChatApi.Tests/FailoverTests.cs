using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// ChatApi with two upstreams: the primary (the assembly's emulator) misbehaves for this test's caller only, the
/// secondary is healthy. What a user sees (which upstream answered, no wait) and what each upstream saw.
/// </summary>
public sealed class FailoverTests(ChatApiFixture primary, SecondUpstreamFixture secondary) : IClassFixture<SecondUpstreamFixture>
{
    private readonly string _caller = $"failover-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A breaker that notices an outage after two failures in a row (a quarter of MinimumThroughput, at least 2)
    // and checks it again after a quarter of BreakDuration, doubling up to every 0.5 s.
    private static readonly Dictionary<string, string?> Breaker = new()
    {
        ["OpenAI:Resilience:CircuitBreaker:MinimumThroughput"] = "8",
        ["OpenAI:Resilience:CircuitBreaker:BreakDuration"] = "00:00:00.500",
    };

    private WebApplicationFactory<Program> Api(IReadOnlyDictionary<string, string?>? settings = null) =>
        secondary.CreateApi(primary, Breaker.Concat(settings ?? new Dictionary<string, string?>()).ToDictionary());

    [Fact]
    public async Task Primary_down_every_chat_is_answered_by_the_secondary_with_no_wait_and_no_retry_on_the_primary()
    {
        await using var api = Api();
        await primary.ScriptAsync(_caller, [.. Enumerable.Repeat("503", 20)]);
        var client = ChatApiFixture.ClientFor(api, _caller);

        for (var i = 0; i < 6; i++)
        {
            var events = await client.StreamAsync(ChatApiCalls.Body($"Hello {i}"), Ct);

            Assert.Equal("done", events[^1].Type);
            Assert.Equal("openai-2", events[^1].Data.GetProperty("upstream").GetString());
            // The page's "attempt N of M": each of the two upstreams may take all 4 of its attempts (3 retries), so never "6 of 4".
            Assert.Equal(2 * 4, events[0].Data.GetProperty("maxAttempts").GetInt32());
            Assert.DoesNotContain(events, e => e.Type == "attempt" && e.Data.GetProperty("delayMs") is { ValueKind: JsonValueKind.Number } d && d.GetInt64() > 0);
            // The page says "Trying openai-2 (openai: 503)": one failover event per chat, naming both upstreams and why.
            var failover = Assert.Single(events, e => e.Type == "attempt" && e.Data.TryGetProperty("failoverTo", out var to) && to.GetString() == "openai-2");
            Assert.Equal("openai", failover.Data.GetProperty("failoverFrom").GetString());
            Assert.Contains(failover.Data.GetProperty("reason").GetString(), new[] { "503", "upstream down (circuit breaker open)" });
        }

        // Never more than one request per chat reached the primary: its 503s were never retried there.
        var primarySaw = await primary.SeenAsync(_caller);
        Assert.InRange(primarySaw.Count, 1, 6);
        Assert.All(primarySaw, r => Assert.Equal("service_unavailable", r.Outcome));
        Assert.Equal(6, (await secondary.SeenAsync(_caller)).Count);
    }

    [Fact]
    public async Task Primary_back_traffic_returns_to_it_within_its_probe_interval()
    {
        await using var api = Api();
        await primary.ScriptAsync(_caller, "503", "503");
        var client = ChatApiFixture.ClientFor(api, _caller);

        // Two failures in a row: the primary is down, and the chats went to the secondary.
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal("openai-2", await UpstreamOfAsync(client));
        }

        // A bounded poll, one chat every 20 ms or so: enough to meet the first check, without loading the emulators
        // that the other test classes share.
        // The first check comes a quarter of BreakDuration after the outage (125 ms), and it succeeds: judged by what the
        // primary saw (two failures, then one check that answered), not by a clock; the poll's bound only catches a
        // primary never checked again.
        await Poll.UntilAsync(async () => await UpstreamOfAsync(client) == "openai" ? true : (bool?)null, "traffic back on the primary");
        Assert.Equal(["service_unavailable", "service_unavailable", "ok"], (await primary.SeenAsync(_caller)).Select(r => r.Outcome));
    }

    [Fact]
    public async Task Primary_rate_limited_calls_go_to_the_secondary_instead_of_waiting()
    {
        await using var api = Api(new Dictionary<string, string?> { ["OpenAI:Resilience:RateLimit:Enabled"] = "true" });
        await primary.ScriptAsync(_caller, "429:retry-after-ms=2000");
        var client = ChatApiFixture.ClientFor(api, _caller);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("openai-2", await UpstreamOfAsync(client));
        }

        // Waiting for the primary (a retry there, or its closed gate) would show as a second request there; the gate kept
        // the 2nd and 3rd calls from it. Judged by what each upstream saw, not by a clock.
        Assert.Single(await primary.SeenAsync(_caller));
        Assert.Equal(3, (await secondary.SeenAsync(_caller)).Count);
    }

    [Fact]
    public async Task A_chat_whose_tokens_do_not_fit_the_primarys_bucket_now_goes_to_the_secondary_instead_of_waiting()
    {
        // The primary allows 900 tokens a minute (configured: the emulator publishes its own generous limit too, which
        // cannot raise a mirror); the secondary has no such limit. A chat of about 450 tokens fits once, not twice.
        await using var api = Api(new Dictionary<string, string?>
        {
            ["OpenAI:Resilience:RateLimit:Enabled"] = "true",
            ["OpenAI:Resilience:RateLimit:Limits:openai/gpt-4o:TokensPerMinute"] = "900",
        });
        var client = ChatApiFixture.ClientFor(api, _caller);
        var words = string.Join(' ', Enumerable.Repeat("tokens", 400));

        var first = await UpstreamOfAsync(client, words);
        var second = await UpstreamOfAsync(client, words);

        Assert.Equal(("openai", "openai-2"), (first, second));
        Assert.Single(await primary.SeenAsync(_caller)); // the second never waited there for its tokens
    }

    [Fact]
    public async Task Quota_exhausted_on_the_primary_goes_to_the_secondary_and_is_never_retried_on_the_primary()
    {
        await using var api = Api();
        await primary.ScriptAsync(_caller, "quota", "quota");
        var client = ChatApiFixture.ClientFor(api, _caller);

        using var response = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("openai-2", reply.GetProperty("upstream").GetString());
        Assert.Equal(2, reply.GetProperty("attempts").GetInt32());
        Assert.Equal(["insufficient_quota"], (await primary.SeenAsync(_caller)).Select(r => r.Outcome));

        // Streamed, the failover names the quota (not "down"): the page says "Trying openai-2 (openai: 429 insufficient_quota)".
        var events = await client.StreamAsync(ChatApiCalls.Body("Hello again"), Ct);
        Assert.Equal("openai-2", events[^1].Data.GetProperty("upstream").GetString());
        var failover = Assert.Single(events, e => e.Type == "attempt" && e.Data.TryGetProperty("failoverTo", out var to) && to.GetString() == "openai-2");
        Assert.Equal("429 insufficient_quota", failover.Data.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_stream_broken_after_its_first_chunk_is_not_sent_to_the_secondary()
    {
        await using var api = Api();
        await primary.ScriptAsync(_caller, "disconnect:after=2");

        var events = await ChatApiFixture.ClientFor(api, _caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        Assert.Contains(events, e => e.Type == "delta");
        Assert.Equal("error", events[^1].Type);
        Assert.Empty(await secondary.SeenAsync(_caller));
    }

    [Fact]
    public async Task A_request_the_primary_rejects_as_bad_is_not_sent_to_the_secondary()
    {
        await using var api = Api();
        await primary.ScriptAsync(_caller, "400");

        using var response = await ChatApiFixture.ClientFor(api, _caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Empty(await secondary.SeenAsync(_caller));
    }

    [Fact]
    public async Task A_model_the_primary_does_not_serve_goes_straight_to_the_upstream_that_does()
    {
        await using var api = Api(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint={new Uri(primary.EmulatorAddress, "/v1")};Key={ChatApiFixture.ApiKey};Models=gpt-4o-mini",
        });

        var events = await ChatApiFixture.ClientFor(api, _caller).StreamAsync(ChatApiCalls.Body("Hello", model: "gpt-4o"), Ct);

        Assert.Equal("openai-2", events[^1].Data.GetProperty("upstream").GetString());
        Assert.Empty(await primary.SeenAsync(_caller));
    }

    [Fact]
    public async Task With_one_upstream_the_reply_names_it()
    {
        var events = await primary.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal("openai", events[^1].Data.GetProperty("upstream").GetString());
    }

    private static async Task<string?> UpstreamOfAsync(HttpClient client, string message = "Hello")
    {
        var events = await client.StreamAsync(ChatApiCalls.Body(message), Ct);
        Assert.Equal("done", events[^1].Type);
        return events[^1].Data.GetProperty("upstream").GetString();
    }
}
