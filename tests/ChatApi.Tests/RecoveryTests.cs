using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AspireRetry.Contracts;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// A down upstream, against the real emulator: calls wait for it to recover instead of failing, it sees one check
/// per interval, a call that cannot wait is told when to come back, and recovery is noticed at once. Each test has
/// its own ChatApi (so its own breaker) and its own caller key at the emulator.
/// </summary>
public sealed class RecoveryTests(ChatApiFixture fixture)
{
    private readonly string _caller = $"recovery-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Two failures in a row take the upstream down (a quarter of MinimumThroughput 8); checks after 200 ms, 400 ms, then every 800 ms.</summary>
    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> Api(string breakDuration = "00:00:00.800", string maxRecoveryWait = "00:00:05") =>
        fixture.CreateApi(new Dictionary<string, string?>
        {
            ["OpenAI:Resilience:CircuitBreaker:MinimumThroughput"] = "8",
            ["OpenAI:Resilience:CircuitBreaker:BreakDuration"] = breakDuration,
            ["OpenAI:Resilience:CircuitBreaker:MaxRecoveryWait"] = maxRecoveryWait,
        });

    private async Task UntilSeenAsync(int count)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(10);
        while ((await fixture.SeenAsync(_caller)).Count < count)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"the upstream did not see {count} requests within 10 s");
            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task Calls_during_an_outage_wait_for_it_one_check_per_interval_and_succeed_after_it_ends()
    {
        await using var api = Api();
        using var client = ChatApiFixture.ClientFor(api, _caller);
        // Down for five requests: two take it down, three checks fail (after 200, 400 and 800 ms); the fourth check finds it up.
        await fixture.ScriptAsync(_caller, "503", "503", "503", "503", "503");

        var first = client.StreamAsync(ChatApiCalls.Body("Hello"), Ct);
        await UntilSeenAsync(2);
        var others = Enumerable.Range(0, 3).Select(_ => client.StreamAsync(ChatApiCalls.Body("Hello"), Ct)).ToList();
        var replies = await Task.WhenAll([first, .. others]);

        Assert.All(replies, events => Assert.Equal(ChatStreamEvents.Done, events[^1].Type));
        var waits = replies[1].Where(e => e.Type == ChatStreamEvents.Attempt && e.Data.GetProperty("outcome").GetString() == AttemptEvent.RecoveryWait).ToList();
        Assert.NotEmpty(waits);
        Assert.Equal("waiting for the upstream to recover", waits[0].Data.GetProperty("reason").GetString());

        // What the upstream saw: the five failures, then one request per call (the successful check was one of them).
        var seen = await fixture.SeenAsync(_caller);
        Assert.Equal(5 + 4, seen.Count);
        Assert.All(seen.Take(5), r => Assert.Equal(503, r.StatusCode));
        Assert.All(seen.Skip(5), r => Assert.Equal(200, r.StatusCode));

        // While down, one check per interval (each up to 20% early), not a request per waiting call.
        double[] intervals = [200, 400, 800, 800];
        for (var i = 2; i < 6; i++)
        {
            var gap = (seen[i].ReceivedAt - seen[i - 1].ReceivedAt).TotalMilliseconds;
            Assert.True(gap >= (0.8 * intervals[i - 2]) - 5, $"check {i - 1} came {gap:0} ms after the request before it, sooner than its {intervals[i - 2]} ms interval");
        }
    }

    [Fact]
    public async Task A_call_whose_budget_cannot_cover_the_next_check_fails_at_once_with_retry_after()
    {
        // The first check is 1 s after the upstream went down (a quarter of 4 s); calls may wait 300 ms.
        await using var api = Api(breakDuration: "00:00:04", maxRecoveryWait: "00:00:00.300");
        using var client = ChatApiFixture.ClientFor(api, _caller);
        // Retried at once (the emulator's 503 asks for 1 s by default, which would outlast the wait for the check).
        await fixture.ScriptAsync(_caller, "503:retry-after-ms=0", "503:retry-after-ms=0");

        using var first = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);
        using var second = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);

        foreach (var response in (HttpResponseMessage[])[first, second])
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("Upstream is down", problem.GetProperty("title").GetString());
            Assert.Contains("MaxRecoveryWait", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.InRange(problem.GetProperty("retryAfterMs").GetInt64(), 1, 1000);
        }

        // Failing at once, not after waiting for the check, shows in what the upstream saw: no check was sent.
        Assert.Equal(2, (await fixture.SeenAsync(_caller)).Count);
    }

    [Fact]
    public async Task A_call_sent_a_second_after_recovery_is_answered()
    {
        // Checks after 250 ms, 500 ms, then every 1 s; the upstream recovers after the second failed check.
        await using var api = Api(breakDuration: "00:00:01");
        using var client = ChatApiFixture.ClientFor(api, _caller);
        await fixture.ScriptAsync(_caller, "503", "503", "503", "503");

        var during = client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);
        await UntilSeenAsync(4);
        var recoveredAt = (await fixture.SeenAsync(_caller))[3].ReceivedAt;

        // The scenario, not a synchronisation: a person sends a message a second after the upstream came back.
        var sendAt = recoveredAt.AddSeconds(1) - DateTimeOffset.UtcNow;
        if (sendAt > TimeSpan.Zero)
        {
            await Task.Delay(sendAt, Ct);
        }

        using var after = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);
        using var duringResponse = await during;

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(HttpStatusCode.OK, duringResponse.StatusCode);
    }
}
