using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// The issue's done-when: a burst of 100 concurrent chats against the emulator's token buckets at
/// 60 requests per (scaled) minute of one second, once with the shared gate and once without it.
/// </summary>
public sealed class RateLimitBurstTests(ChatApiFixture fixture)
{
    private const int Chats = 100;
    private const int RequestsPerWindow = 60;
    private const int WindowMs = 1000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task RateLimitModeAsync()
    {
        var profile = await fixture.Emulator.PutAsJsonAsync("/emulator/chaos", new
        {
            name = "burst-60-per-scaled-minute",
            rateLimiter = new { enabled = true, requestsPerWindow = RequestsPerWindow, tokensPerWindow = 10_000_000, windowMs = WindowMs },
        }, Ct);
        profile.EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task A_burst_of_100_chats_at_60_a_minute_meets_at_most_5_percent_429s_with_the_gate_and_many_more_without()
    {
        await RateLimitModeAsync();
        try
        {
            var gated = await BurstAsync(gate: true);
            var ungated = await BurstAsync(gate: false);

            var output = TestContext.Current.TestOutputHelper;
            output?.WriteLine($"With the gate:    {gated}");
            output?.WriteLine($"Without the gate: {ungated}");

            Assert.All(gated.Endings, e => Assert.True(e.Ok || e.BudgetError, $"a chat ended with neither a reply nor a clear budget error: {e.Detail}"));
            Assert.InRange(gated.RejectedShare, 0, 0.05);
            Assert.True(ungated.RejectedShare > gated.RejectedShare,
                $"without the gate the upstream should refuse more: {ungated.RejectedShare:P1} vs {gated.RejectedShare:P1}");
            Assert.Empty(gated.EarlyRequests);
        }
        finally
        {
            await fixture.Emulator.DeleteAsync("/emulator/chaos", Ct);
        }
    }

    /// <summary>
    /// Another client of the same key (a second ChatApi replica, say) spends the limit in the middle of the
    /// burst: the gate's estimate is now wrong, so ChatApi does meet 429s. Each one must hold every later
    /// request until its Retry-After has passed, and the 429s must stay few.
    /// </summary>
    [Fact]
    public async Task When_another_client_spends_the_limit_mid_burst_no_request_goes_before_a_retry_after_it_was_told()
    {
        await RateLimitModeAsync();
        try
        {
            var result = await BurstAsync(gate: true, meanwhile: SpendTheLimitAsync);

            TestContext.Current.TestOutputHelper?.WriteLine($"With the gate and another client: {result}");
            Assert.All(result.Endings, e => Assert.True(e.Ok || e.BudgetError, $"a chat ended with neither a reply nor a clear budget error: {e.Detail}"));
            Assert.True(result.Rejected > 0, "the other client should have made ChatApi meet at least one 429");
            Assert.Empty(result.EarlyRequests);
            Assert.InRange(result.RejectedShare, 0, 0.1);
        }
        finally
        {
            await fixture.Emulator.DeleteAsync("/emulator/chaos", Ct);
        }
    }

    /// <summary>
    /// Demand above the limit for a few windows: 20 users chatting back to back. Pacing keeps ChatApi
    /// under the published limit without a single 429, and still uses most of it: most of what this machine
    /// can do at the moment, measured first with no limit, when that is less (a loaded 2-core machine was
    /// seen to manage 41 a second, and the test failed for the machine rather than the pacing).
    /// </summary>
    [Fact]
    public async Task Pacing_keeps_a_steady_stream_above_the_limit_under_it_without_a_429()
    {
        const int users = 20, chatsEach = 8;
        await using var api = fixture.CreateApi(new Dictionary<string, string?> { ["OpenAI:Resilience:RateLimit:Enabled"] = "true" });

        async Task<(List<SeenRequest> Seen, double PerSecond)> SteadyStreamAsync(string caller, int bucket)
        {
            using var client = ChatApiFixture.ClientFor(api, caller);
            var started = DateTimeOffset.UtcNow;
            await Task.WhenAll(Enumerable.Range(0, users).Select(async user =>
            {
                for (var i = 0; i < chatsEach; i++)
                {
                    using var response = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body($"User {user}, message {i}"), Ct);
                    Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
                }
            }));
            var elapsed = DateTimeOffset.UtcNow - started;
            var seen = await fixture.SeenAsync(caller);

            // Beyond the first full bucket (when there is one), the refill rate is the ceiling.
            return (seen, (seen.Count - bucket) / elapsed.TotalSeconds);
        }

        var (_, capacity) = await SteadyStreamAsync($"capacity-{Guid.NewGuid():N}", bucket: 0); // also warms ChatApi up
        await RateLimitModeAsync();
        try
        {
            var (seen, perSecond) = await SteadyStreamAsync($"steady-{Guid.NewGuid():N}", bucket: RequestsPerWindow);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"Steady stream: {seen.Count} requests, {seen.Count(r => r.StatusCode == 429)} refused; {perSecond:0.0} a second beyond the first full bucket " +
                $"(limit {RequestsPerWindow} a second; this machine managed {capacity:0.0} a second with no limit).");
            Assert.Equal(users * chatsEach, seen.Count);
            Assert.DoesNotContain(seen, r => r.StatusCode == 429);

            // Pacing should not waste much of what is available: the limit, or what the machine can do if less.
            Assert.InRange(perSecond, Math.Min(RequestsPerWindow, capacity) * 0.7, RequestsPerWindow * 1.05);
        }
        finally
        {
            await fixture.Emulator.DeleteAsync("/emulator/chaos", Ct);
        }
    }

    /// <summary>
    /// Once ChatApi has sent 70 requests, another client of the same key and model spends what the bucket holds, ten
    /// requests at a time, until ChatApi has met a 429 of its own (or 10 s have passed). Spending a fixed number once
    /// left it to chance whether ChatApi's gate, told by the headers that the bucket was empty, was already waiting
    /// out the refill: then no 429 ever reached ChatApi and the test had nothing to judge.
    /// </summary>
    private async Task SpendTheLimitAsync(string caller)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await fixture.SeenAsync(caller)).Count < 70)
        {
            Assert.True(DateTime.UtcNow < deadline, "ChatApi did not send 70 requests within 10 s");
            await Task.Delay(5, Ct);
        }

        var mine = new ConcurrentDictionary<string, bool>();
        while (DateTime.UtcNow < deadline
            && !(await fixture.SeenAsync(caller)).Any(r => r.StatusCode == 429 && r.RequestId is { } id && !mine.ContainsKey(id)))
        {
            await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
                {
                    Content = JsonContent.Create(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "elsewhere" } } }),
                };
                request.Headers.Add("x-emulator-caller", caller);
                request.Headers.Authorization = new("Bearer", ChatApiFixture.ApiKey);
                using var response = await fixture.Emulator.SendAsync(request, Ct);
                if (response.Headers.TryGetValues("x-request-id", out var ids))
                {
                    mine[ids.First()] = true;
                }
            }));
        }
    }

    private async Task<BurstResult> BurstAsync(bool gate, Func<string, Task>? meanwhile = null)
    {
        var caller = $"burst-{(gate ? "gated" : "ungated")}-{Guid.NewGuid():N}";
        var sends = new ConcurrentQueue<SendRecord>();
        await using var api = fixture.CreateApi(new Dictionary<string, string?>
            {
                ["OpenAI:Resilience:RateLimit:Enabled"] = gate ? "true" : "false",
            })
            .WithWebHostBuilder(web => web.ConfigureTestServices(services =>
                services.AddHttpClient("openai").AddHttpMessageHandler(() => new RecordingHandler(sends))));
        using var client = ChatApiFixture.ClientFor(api, caller);

        var other = meanwhile?.Invoke(caller) ?? Task.CompletedTask;
        var endings = await Task.WhenAll(Enumerable.Range(0, Chats).Select(async i =>
        {
            using var response = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body($"Burst message {i}"), Ct);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            if (response.IsSuccessStatusCode)
            {
                return new Ending(true, false, null);
            }

            var detail = body.GetProperty("detail").GetString() ?? "";
            var budget = detail.Contains("TotalTimeout", StringComparison.Ordinal) || detail.Contains("MaxServerDelay", StringComparison.Ordinal)
                || detail.Contains("retry budget", StringComparison.Ordinal);
            return new Ending(false, budget, $"{(int)response.StatusCode} {detail}");
        }));

        await other;

        // ChatApi's own requests: the log also holds the other client's, when there is one.
        var ours = sends.Select(s => s.RequestId).ToHashSet();
        var seen = (await fixture.SeenAsync(caller)).Where(r => ours.Contains(r.RequestId)).ToList();
        return new BurstResult(endings, seen.Count, seen.Count(r => r.StatusCode == 429), EarlyRequests(seen, [.. sends]));
    }

    /// <summary>
    /// Requests sent after ChatApi had been told to wait (a 429's retry-after-ms) that still reached the
    /// upstream before that wait was over, by the emulator's own log. Requests already on their way when
    /// the 429 arrived were not told anything, so they do not count.
    /// </summary>
    private static List<string> EarlyRequests(List<SeenRequest> seen, SendRecord[] sends)
    {
        var byId = seen.Where(r => r.RequestId is not null).ToDictionary(r => r.RequestId!);
        var early = new List<string>();
        foreach (var told in sends.Where(s => s.Status == 429 && s.RequestId is not null && byId.ContainsKey(s.RequestId)))
        {
            var limited = byId[told.RequestId!];
            var allowedFrom = limited.ReceivedAt.AddMilliseconds(limited.RetryAfterMs ?? 0);
            foreach (var later in sends.Where(s => s.SentAt > told.AnsweredAt && s.RequestId is not null && byId.ContainsKey(s.RequestId)))
            {
                var arrived = byId[later.RequestId!].ReceivedAt;

                // The log has millisecond timestamps: allow the one millisecond of rounding.
                if (arrived < allowedFrom.AddMilliseconds(-1) && !early.Contains(later.RequestId!))
                {
                    early.Add(later.RequestId!);
                }
            }
        }

        return early;
    }

    private sealed record Ending(bool Ok, bool BudgetError, string? Detail);

    private sealed record SendRecord(DateTimeOffset SentAt, DateTimeOffset AnsweredAt, int? Status, string? RequestId);

    private sealed record BurstResult(Ending[] Endings, int UpstreamRequests, int Rejected, List<string> EarlyRequests)
    {
        public double RejectedShare => UpstreamRequests == 0 ? 0 : (double)Rejected / UpstreamRequests;

        public override string ToString() =>
            $"{Endings.Count(e => e.Ok)} replies, {Endings.Count(e => !e.Ok && e.BudgetError)} budget errors, {Endings.Count(e => !e.Ok && !e.BudgetError)} other errors; " +
            $"upstream saw {UpstreamRequests} requests, {Rejected} refused with 429 ({RejectedShare.ToString("P1", CultureInfo.InvariantCulture)}); " +
            $"{EarlyRequests.Count} sent before a Retry-After ChatApi had been told about had passed";
    }

    /// <summary>Innermost in ChatApi's "openai" client: when each attempt left and what came back.</summary>
    private sealed class RecordingHandler(ConcurrentQueue<SendRecord> sends) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var sentAt = DateTimeOffset.UtcNow;
            var response = await base.SendAsync(request, cancellationToken);
            var id = response.Headers.TryGetValues("x-request-id", out var ids) ? ids.FirstOrDefault() : null;
            sends.Enqueue(new SendRecord(sentAt, DateTimeOffset.UtcNow, (int)response.StatusCode, id));
            return response;
        }
    }
}
