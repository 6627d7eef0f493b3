using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// Two replicas (two apps, each with its own connection and in-process state) on one Redis: what one of them learned holds
/// the other, whose own state knows nothing of it. Only the shared store can have decided.
/// </summary>
public sealed class RedisReplicaTests(RedisServerFixture redis) : Scenarios(StateStore.Redis(redis)), IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task A_429_met_by_replica_A_holds_replica_Bs_call_until_the_servers_wait_is_over()
    {
        var serverWait = TimeSpan.FromMilliseconds(500);
        var a = await ReplicaAsync(Settings(), "a");
        var b = await ReplicaAsync(Settings(), "b");
        Upstream.Script(Reply.RateLimited(serverWait));

        var first = await MeetA429Async(a, Model);
        var limited = Upstream.Seen[0];
        var held = await b.ChatAsync(Model, "sent while the gate is closed");

        Assert.True((await first).Ok);
        Assert.True(held.Ok, held.ToString());
        var fromB = Assert.Single(Upstream.Seen, r => r.Replica == "b");
        Assert.True(fromB.At - limited.At >= serverWait, $"replica B's request came {(fromB.At - limited.At).TotalMilliseconds:0} ms after A's 429");
        var waited = Assert.Single(held.EventsNamed(Events.GateWait));
        Assert.Equal("closed", waited.Tag(Tags.GateReason));
        Assert.Equal("shared", waited.StateSource());
    }

    [Fact]
    public async Task A_call_replica_B_cannot_afford_fails_at_once_on_the_gate_replica_A_closed_and_sends_nothing()
    {
        // The server's wait (1 s) is beyond what a call may wait for one (MaxServerDelay 0.1 s).
        var settings = Settings(("OpenAI:Resilience:MaxServerDelay", "00:00:00.100"));
        var a = await ReplicaAsync(settings, "a");
        var b = await ReplicaAsync(settings, "b");
        Upstream.Script(Reply.RateLimited(TimeSpan.FromSeconds(1)));

        Assert.Equal(429, (await a.ChatAsync(Model, "meets the 429")).Status);
        var next = await b.ChatAsync(Model, "meets the closed gate");

        var refused = next.Failure<RateLimitGateRejectedException>();
        Assert.True(refused is not null, next.ToString());
        Assert.InRange(refused.Wait, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1.1));
        Assert.DoesNotContain(Upstream.Seen, r => r.Replica == "b");
        Assert.Equal("shared", Assert.Single(next.EventsNamed(Events.GateRejected)).StateSource());
    }

    [Fact]
    public async Task An_outage_replica_A_found_refuses_replica_Bs_calls_until_Bs_check_which_lets_A_through_too()
    {
        var settings = Settings([.. NoRetries, DownAfterTwoFailures, ("OpenAI:Resilience:CircuitBreaker:MaxRecoveryWait", "00:00:00")]);
        var a = await ReplicaAsync(settings, "a");
        var b = await ReplicaAsync(settings, "b");
        Upstream.Script(Reply.Unavailable(), Reply.Unavailable());
        Assert.Equal(503, (await a.ChatAsync(Model, "first failure")).Status);
        Assert.Equal(503, (await a.ChatAsync(Model, "second failure: down")).Status);

        // B has seen no failure; it is refused on A's word, without a request.
        var refused = await b.ChatAsync(Model, "meets the down upstream");
        Assert.True(refused.Failure<UpstreamDownException>() is not null, refused.ToString());
        Assert.DoesNotContain(Upstream.Seen, r => r.Replica == "b");

        // When the check is due, B's next call takes it (A sends none meanwhile); its success is every replica's.
        var check = await Poll.UntilAsync(async () => await b.ChatAsync(Model, "asks until the check is due") is { Ok: true } call ? call : null,
            "replica B let through as the check", Bound, TimeSpan.FromMilliseconds(20));
        var after = await a.ChatAsync(Model, "after B's check");

        Assert.Equal(1, check.Progress.Attempts);
        Assert.True(after.Ok, after.ToString());
        Assert.Equal([("a", 503), ("a", 503), ("b", 200), ("a", 200)], Upstream.Seen.Select(r => (r.Replica, r.Status)));
    }

    [Fact]
    public async Task Retries_replica_A_spent_are_gone_from_replica_Bs_budget()
    {
        // Two retries in the window, whatever the traffic (0.2 a second over 10 s), for all the replicas together.
        var settings = Settings(
            ("OpenAI:Resilience:MaxRetryAttempts", "4"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:Ratio", "0"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:MinRetriesPerSecond", "0.2"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:Window", "00:00:10"),
            ("OpenAI:Resilience:CircuitBreaker:MinimumThroughput", "1000"));
        var a = await ReplicaAsync(settings, "a");
        var b = await ReplicaAsync(settings, "b");
        Upstream.Otherwise = Reply.Unavailable();

        var spender = await a.ChatAsync(Model, "spends the budget");
        var refused = await b.ChatAsync(Model, "finds it spent");

        Assert.Equal(503, spender.Status);
        Assert.Equal(503, refused.Status);
        // B's own budget would have allowed it two retries too.
        Assert.Equal(3, Upstream.Seen.Count(r => r.Replica == "a"));
        Assert.Equal(1, Upstream.Seen.Count(r => r.Replica == "b"));
        var exhausted = Assert.Single(refused.EventsNamed(Events.BudgetExhausted));
        Assert.Equal("shared", exhausted.StateSource());
        Assert.Equal(2, exhausted.Tag(Tags.BudgetRetries));
    }
}
