using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>The retry budget: retries are at most a share of the calls, however often each call would retry.</summary>
public abstract class RetryBudgetScenarios(StateStore store) : Scenarios(store)
{
    [Fact]
    public async Task The_retry_budget_refuses_retries_beyond_its_share_of_the_calls()
    {
        const int calls = 10;
        // Retries at most 20% of the calls in a 10 s window, none granted for free; four a call otherwise. The breaker needs 250
        // failures in a row to call the upstream down, so the budget alone decides.
        var replica = await ReplicaAsync(Settings(
            ("OpenAI:Resilience:MaxRetryAttempts", "4"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:Ratio", "0.2"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:MinRetriesPerSecond", "0"),
            ("OpenAI:Resilience:RateLimit:RetryBudget:Window", "00:00:10"),
            ("OpenAI:Resilience:CircuitBreaker:MinimumThroughput", "1000")));
        Upstream.Otherwise = Reply.Unavailable();

        // One after another, so the window's counts at each retry are known: the 5th call earns the first retry, the 10th the second.
        var outcomes = new List<CallOutcome>();
        for (var i = 0; i < calls; i++)
        {
            outcomes.Add(await replica.ChatAsync(Model, $"call {i}"));
        }

        Assert.All(outcomes, o => Assert.Equal(503, o.Status));
        // 10 first attempts and 2 retries (20% of 10 calls), where 4 retries a call would have sent 50 requests.
        Assert.Equal(calls + 2, Upstream.Seen.Count);
        Assert.Equal([1, 1, 1, 1, 2, 1, 1, 1, 1, 2], outcomes.Select(o => o.Progress.Attempts));

        // Every call was stopped by the budget, said so, and the decision was this store's.
        Assert.All(outcomes, o => Assert.Contains("retry budget", o.Progress.StopReason, StringComparison.Ordinal));
        var exhausted = outcomes.Select(o => Assert.Single(o.EventsNamed(Events.BudgetExhausted))).ToList();
        Assert.All(exhausted, e => Assert.Equal(Store.Source, e.StateSource()));
        Assert.Equal(2, exhausted[^1].Tag(Tags.BudgetAllowed));
    }
}

public sealed class InProcessRetryBudgetTests() : RetryBudgetScenarios(StateStore.InProcess);

public sealed class RedisRetryBudgetTests(RedisServerFixture redis) : RetryBudgetScenarios(StateStore.Redis(redis)), IClassFixture<RedisServerFixture>;
