using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// The recovery gate: an upstream found down gets no calls but its checks, one at a time, and the first check that succeeds
/// lets every call through.
/// </summary>
public abstract class RecoveryScenarios(StateStore store) : Scenarios(store)
{
    /// <summary>No retries, so the upstream's log reads call by call; two failures in a row mean down.</summary>
    protected static Dictionary<string, string?> RecoverySettings(params (string Key, string Value)[] more) =>
        Settings([.. NoRetries, DownAfterTwoFailures, .. more]);

    [Fact]
    public async Task An_upstream_found_down_refuses_calls_without_a_request_until_its_check_whose_success_lets_calls_through()
    {
        // A call may not wait for recovery: it fails at once. The first check is due 300-375 ms after the upstream went down
        // (a quarter of BreakDuration 1.5 s, up to 20% sooner).
        var replica = await ReplicaAsync(RecoverySettings(("OpenAI:Resilience:CircuitBreaker:MaxRecoveryWait", "00:00:00")));
        Upstream.Script(Reply.Unavailable(), Reply.Unavailable());
        Assert.Equal(503, (await replica.ChatAsync(Model, "first failure")).Status);
        Assert.Equal(503, (await replica.ChatAsync(Model, "second failure: down")).Status);

        var refused = await replica.ChatAsync(Model, "meets the down upstream");
        var down = refused.Failure<UpstreamDownException>();
        Assert.True(down is not null, refused.ToString());
        Assert.InRange(down.RetryAfter!.Value, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(375));

        // Until the check is due every call is refused, sending nothing; the first one let through is the check.
        var refusals = 1;
        var check = await Poll.UntilAsync(async () =>
        {
            var call = await replica.ChatAsync(Model, "asks until the check is due");
            refusals += call.Failure<UpstreamDownException>() is null ? 0 : 1;
            return call.Failure<UpstreamDownException>() is null ? call : null;
        }, "a call let through as the check", Bound, TimeSpan.FromMilliseconds(20));
        var after = await replica.ChatAsync(Model, "after the check");

        Assert.True(check.Ok, check.ToString());
        Assert.True(after.Ok, after.ToString());
        Assert.Equal([503, 503, 200, 200], Statuses());
        var (wentDown, checkedAt) = (Upstream.Seen[1].At, Upstream.Seen[2].At);
        Assert.True(checkedAt - wentDown >= TimeSpan.FromMilliseconds(290),
            $"the check came {(checkedAt - wentDown).TotalMilliseconds:0} ms after the upstream went down; it is due after 300 ms at the soonest");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{refusals} calls refused without a request; the check came {(checkedAt - wentDown).TotalMilliseconds:0} ms after the second failure.");
    }

    [Fact]
    public async Task Calls_wait_through_a_failed_check_and_the_next_successful_check_lets_them_all_through()
    {
        // Checks 160-200 ms after going down, then 320-400 ms after a failed one. The upstream takes 100 ms to refuse: a check
        // counts as a sign of life (releasing the waiting calls early) only after three times that.
        var replica = await ReplicaAsync(RecoverySettings(("OpenAI:Resilience:CircuitBreaker:BreakDuration", "00:00:00.800")));
        var slowRefusal = Reply.Unavailable(after: TimeSpan.FromMilliseconds(100));
        Upstream.Script(slowRefusal, slowRefusal, slowRefusal);
        Assert.Equal(503, (await replica.ChatAsync(Model, "first failure")).Status);
        Assert.Equal(503, (await replica.ChatAsync(Model, "second failure: down")).Status);

        const int waiting = 5;
        var outcomes = await Task.WhenAll(Enumerable.Range(0, waiting).Select(i => replica.ChatAsync(Model, $"waits for recovery {i}")));

        // With no retries, a call that met the failed check's 503 would have failed: the check's failure was the gate's.
        Assert.All(outcomes, o => Assert.True(o.Ok, o.ToString()));
        // The first request after going down was the (failed) check, then the next check, then the others: one each.
        Assert.Equal([503, 503, 503, .. Enumerable.Repeat(200, waiting)], Statuses());
        var waits = outcomes.SelectMany(o => o.EventsNamed(Events.RecoveryWait)).ToList();
        Assert.NotEmpty(waits);
        Assert.All(waits, e => Assert.Equal(Store.Source, e.StateSource()));
    }
}

public sealed class InProcessRecoveryTests() : RecoveryScenarios(StateStore.InProcess);

public sealed class RedisRecoveryTests(RedisServerFixture redis) : RecoveryScenarios(StateStore.Redis(redis)), IClassFixture<RedisServerFixture>;
