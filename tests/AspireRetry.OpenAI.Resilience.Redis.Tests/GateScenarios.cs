using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>The rate-limit gate: a 429's server wait closes it for every call, and published limits pace a burst.</summary>
public abstract class GateScenarios(StateStore store) : Scenarios(store)
{
    private static readonly TimeSpan ServerWait = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task A_429_with_a_server_wait_closes_the_gate_and_the_next_call_waits_it_out()
    {
        var replica = await ReplicaAsync(Settings());
        Upstream.Script(Reply.RateLimited(ServerWait));

        var first = await MeetA429Async(replica, Model);
        var limited = Upstream.Seen[0];
        var next = await replica.ChatAsync(Model, "sent while the gate is closed");
        var retried = await first;

        Assert.True(retried.Ok, retried.ToString());
        Assert.True(next.Ok, next.ToString());

        // Nothing went while the gate was closed: the first call's retry and the next call both came after the server's wait.
        Assert.Equal([429, 200, 200], Statuses());
        Assert.All(Upstream.Seen.Skip(1), r => Assert.True(r.At - limited.At >= ServerWait,
            $"request {r.Number} came {(r.At - limited.At).TotalMilliseconds:0} ms after the 429 that asked for {ServerWait.TotalMilliseconds:0} ms"));

        // The 429 closed the gate, and the next call waited at it (not in a retry of its own), both decided on this store.
        var closed = Assert.Single(retried.EventsNamed(Events.GateClosed));
        Assert.Equal(Store.Source, closed.StateSource());
        var waited = Assert.Single(next.EventsNamed(Events.GateWait));
        Assert.Equal("closed", waited.Tag(Tags.GateReason));
        Assert.Equal(Store.Source, waited.StateSource());
        Assert.Equal(1, next.Progress.Attempts);
    }

    [Fact]
    public async Task A_call_that_cannot_afford_the_closed_gates_wait_fails_at_once_and_sends_nothing()
    {
        // The server's wait (1 s) is beyond what a call may wait for one (MaxServerDelay 0.1 s).
        var replica = await ReplicaAsync(Settings(("OpenAI:Resilience:MaxServerDelay", "00:00:00.100")));
        Upstream.Script(Reply.RateLimited(TimeSpan.FromSeconds(1)));

        var limited = await replica.ChatAsync(Model, "meets the 429");
        var next = await replica.ChatAsync(Model, "meets the closed gate");

        Assert.Equal(429, limited.Status);
        Assert.Contains("MaxServerDelay", limited.Progress.StopReason, StringComparison.Ordinal);
        var refused = next.Failure<RateLimitGateRejectedException>();
        Assert.True(refused is not null, next.ToString());
        Assert.InRange(refused.Wait, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1.1));
        Assert.Equal([429], Statuses());
        // Refused by the replica's own gate, which knows the closing it reported: the store is not asked (another replica's
        // refusal on the store's word is a test of RedisReplicaTests).
        Assert.Single(next.EventsNamed(Events.GateRejected));
    }

    [Fact]
    public async Task Published_limits_pace_a_burst_so_the_upstream_refuses_none_of_it()
    {
        // 20 requests, one more every 100 ms: 30 at once would meet about 10 429s if they all went. The gate keeps 2 of them
        // in reserve (10%): 200 ms of slack for the timers of a loaded machine.
        const int calls = 30;
        Upstream = new FakeUpstream(limit: 20, window: TimeSpan.FromSeconds(2));
        var replica = await ReplicaAsync(Settings());

        var outcomes = await Task.WhenAll(Enumerable.Range(0, calls).Select(i => replica.ChatAsync(Model, $"burst message {i}")));

        Assert.All(outcomes, o => Assert.True(o.Ok, o.ToString()));
        // One request per call and no 429: the bucket admitted every one, so they were spread over its refill (at least 1 s).
        Assert.Equal(Enumerable.Repeat(200, calls), Statuses());
        var paced = outcomes.SelectMany(o => o.EventsNamed(Events.GateWait)).Where(e => (string?)e.Tag(Tags.GateReason) == "paced").ToList();
        Assert.NotEmpty(paced);
        Assert.All(paced, e => Assert.Equal(Store.Source, e.StateSource()));
    }
}

public sealed class InProcessGateTests() : GateScenarios(StateStore.InProcess);

public sealed class RedisGateTests(RedisServerFixture redis) : GateScenarios(StateStore.Redis(redis)), IClassFixture<RedisServerFixture>;
