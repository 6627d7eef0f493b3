using System.Globalization;
using Polly;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The retry budget of one upstream and model as the pipeline uses it: the rate-limit gate strategy records each call's
/// first attempt, and the retry strategy asks it before each retry. With an <see cref="IUpstreamSharedState"/> the
/// replicas' shared budget decides; what it does not answer in time is decided on this replica's own.
/// </summary>
internal sealed class RetryBudgetGuard(RetryBudget budget, RateLimitGate gate, ResilienceOptions options, SharedStateLink shared, SharedStateKey key)
{
    /// <summary>
    /// The rate-limit gate strategy's Polly telemetry, which reports a spent budget (the budget is the gate's part of
    /// Polly's events); given when Polly builds that strategy, before any call.
    /// </summary>
    public ResilienceStrategyTelemetry? Telemetry { get; set; }

    /// <summary>A call's first attempt went out: it earns its share of a retry.</summary>
    public async ValueTask RecordRequestAsync()
    {
        budget.RecordRequest();
        if (shared.Configured)
        {
            // Not cancellable: the attempt holds its start (and maybe the probe) until it gives it back.
            await shared.TryAsync((store, ct) => store.RecordRequestAsync(key, options.RateLimit.RetryBudget.ToSharedRule(), ct), CancellationToken.None)
                .ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes one retry from the budget: null when taken; when it is spent, says so on the span and in Polly's telemetry
    /// and returns why, for the retry strategy to tell the call.
    /// </summary>
    public async ValueTask<string?> TrySpendAsync(ResilienceContext context, string breakerState)
    {
        var (fromShared, decision) = await shared.TryAsync((store, ct) => store.TryRetryAsync(key, options.RateLimit.RetryBudget.ToSharedRule(), ct), context.CancellationToken)
            .ConfigureAwait(false);
        if (fromShared ? decision.Allowed : budget.TryRetry())
        {
            return null;
        }

        var snapshot = fromShared ? (decision.Requests, decision.Retries, decision.Limit) : budget.Snapshot();
        var rule = options.RateLimit.RetryBudget;
        var gateState = gate.Describe();
        SpanEvents.BudgetExhausted(gate, snapshot, breakerState, gateState, fromShared);
        Telemetry?.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.BudgetExhausted), context, snapshot);
        return $"Not retried: the retry budget{(fromShared ? " the replicas share" : "")} is spent ({snapshot.Item2} retries for {snapshot.Item1} calls in the last {TimeSpans.Seconds(rule.Window)}; " +
            $"{RateLimitOptions.SectionName}:RetryBudget allows {rule.Ratio.ToString("0.##", CultureInfo.InvariantCulture)} per call " +
            $"plus {rule.MinRetriesPerSecond.ToString("0.##", CultureInfo.InvariantCulture)} a second). Circuit breaker: {breakerState}; rate-limit gate: {gateState}.";
    }
}
