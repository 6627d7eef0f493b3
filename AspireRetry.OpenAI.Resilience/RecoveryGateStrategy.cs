using System.Diagnostics;
using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>Options of the recovery strategy: only its name, for Polly's telemetry.</summary>
internal sealed class RecoveryGateStrategyOptions : ResilienceStrategyOptions
{
    public RecoveryGateStrategyOptions() => Name = Strategies.RecoveryGate;
}

/// <summary>
/// Between the retry and the circuit breaker: a call that meets a down upstream (see <see cref="RecoveryGate"/>)
/// waits for it to recover instead of failing, for as long as its budget allows (<c>CircuitBreaker:MaxRecoveryWait</c>
/// and what is left of <c>TotalTimeout</c>). It waits until the next check, goes as the check when its turn comes,
/// and goes the moment a check succeeds; when the next check is further away than it may wait, it fails at once
/// with <see cref="UpstreamDownException"/>, carrying the wait. A call whose attempt was the check and failed keeps
/// waiting: a failed check is the gate's business, not one of the call's retries. Each wait and refusal is
/// reported through Polly's telemetry, as a span event (naming the upstream, when the pipeline knows it) and to the
/// call's <see cref="CallProgress"/>.
/// </summary>
internal sealed class RecoveryGateStrategy(ResilienceStrategyTelemetry polly, RecoveryGate gate, ResilienceOptions options, TimeProvider time, string model, string? upstream = null)
    : ResilienceStrategy<HttpResponseMessage>
{
    /// <summary>
    /// The breaker's own break. The breaker only detects that the upstream is down; this strategy times the checks
    /// and lets nothing else through meanwhile, so the breaker's break only has to be over by the first check.
    /// </summary>
    internal static readonly TimeSpan BreakerPause = TimeSpan.FromMilliseconds(10);

    /// <summary>"Down" for the gate and the breaker alike: a 5xx, a timeout or a broken connection. A 429 means up and busy.</summary>
    internal static bool CountsAsDown(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } ex ? UpstreamOutcome.IsTransientException(ex)
        : outcome.Result is { } r && r.StatusCode != HttpStatusCode.TooManyRequests && UpstreamOutcome.IsTransientStatus(r.StatusCode);

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        long? waitingSince = null;
        while (true)
        {
            var decision = gate.Enter();
            if (decision.Kind is RecoveryDecisionKind.Go or RecoveryDecisionKind.GoAsCheck)
            {
                if (waitingSince is { } since)
                {
                    // The attempt that follows a wait (the check, or the first after recovery) says on its span why it came late.
                    AttemptHandler.RetryScheduled(context, Outcomes.RecoveryWaitReason, time.GetElapsedTime(since));
                }

                if (decision.CloseBreaker)
                {
                    await gate.Breaker.CloseAsync(context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
                }

                var isCheck = decision.Kind == RecoveryDecisionKind.GoAsCheck;
                var sent = time.GetTimestamp();
                Outcome<HttpResponseMessage> outcome;
                try
                {
                    outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
                }
                catch when (isCheck)
                {
                    gate.CheckAbandoned();
                    throw;
                }

                if (outcome.Exception is BrokenCircuitException and not IsolatedCircuitException)
                {
                    // The breaker opened before the gate heard of it: wait with the others.
                    gate.BreakerOpened();
                    if (isCheck)
                    {
                        gate.CheckAbandoned();
                    }
                }
                else if (outcome.Exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
                {
                    if (isCheck)
                    {
                        gate.CheckAbandoned();
                    }

                    return outcome;
                }
                else if (!isCheck)
                {
                    gate.Observe(CountsAsDown(outcome), time.GetElapsedTime(sent));
                    return outcome;
                }
                else if (!CountsAsDown(outcome))
                {
                    gate.CheckEnded(up: true, time.GetElapsedTime(sent));
                    return outcome;
                }
                else
                {
                    // A failed check is the gate's business, not one of this call's retries: it keeps waiting.
                    gate.CheckEnded(up: false, time.GetElapsedTime(sent));
                    outcome.Result?.Dispose();
                }

                continue;
            }

            waitingSince ??= time.GetTimestamp();
            var waited = time.GetElapsedTime(waitingSince.Value);
            // With a later upstream able to take the call, it does not wait here at all: it fails over.
            var maxRecoveryWait = UpstreamRoute.CurrentCanFailOver ? TimeSpan.Zero : options.CircuitBreaker.MaxRecoveryWait;
            var left = Min(options.TotalTimeout - CallClock.Elapsed(context, time), maxRecoveryWait - waited);
            // While a check is under way the wait is for its outcome, which no budget can be sure to cover: never refused for it.
            var nextCheck = decision.Kind == RecoveryDecisionKind.Wait ? decision.NextCheck : TimeSpan.Zero;
            if (nextCheck > left || left <= TimeSpan.Zero)
            {
                return Outcome.FromException<HttpResponseMessage>(Reject(nextCheck, left, context));
            }

            Activity.Current?.AddEvent(new ActivityEvent(Events.RecoveryWait, tags: new ActivityTagsCollection
            {
                [Tags.NextCheckMs] = (long)Math.Ceiling(nextCheck.TotalMilliseconds),
                [Tags.RecoveryWaitedMs] = (long)waited.TotalMilliseconds,
                [Tags.Upstream] = upstream,
            }));
            polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.RecoveryWait), context, nextCheck);
            CallProgress.Current?.RecoveryWait(nextCheck);

            try
            {
                // Until the check is due, or until the check under way ends or outlives the failures; never past the call's budget.
                await WaitAsync(Min(decision.NextCheck, left), decision.Changed, context.CancellationToken)
                    .ConfigureAwait(context.ContinueOnCapturedContext);
            }
            catch (OperationCanceledException ex)
            {
                return Outcome.FromException<HttpResponseMessage>(ex);
            }
        }
    }

    private async Task WaitAsync(TimeSpan wait, Task changed, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(wait, time, timer.Token);
        await Task.WhenAny(delay, changed).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private UpstreamDownException Reject(TimeSpan nextCheck, TimeSpan left, ResilienceContext context)
    {
        const string p = ResilienceOptions.SectionName;
        var budgetLeft = options.TotalTimeout - CallClock.Elapsed(context, time);
        var limit = left < budgetLeft
            ? $"more than this call may still wait for it ({p}:CircuitBreaker:MaxRecoveryWait is {OpenAIResilience.Seconds(options.CircuitBreaker.MaxRecoveryWait)})"
            : $"more than the {OpenAIResilience.Seconds(Max(left, TimeSpan.Zero))} left of {p}:TotalTimeout";
        var message = $"The model provider for {model} is down (the circuit breaker is open): its next check is in {OpenAIResilience.Seconds(nextCheck)}, {limit}.";
        Activity.Current?.AddEvent(new ActivityEvent(Events.RecoveryRejected, tags: new ActivityTagsCollection
        {
            [Tags.NextCheckMs] = (long)Math.Ceiling(nextCheck.TotalMilliseconds),
            [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
            [Tags.Upstream] = upstream,
        }));
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.RecoveryRejected), context, nextCheck);
        return new UpstreamDownException(message, nextCheck);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
