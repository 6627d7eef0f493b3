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
/// With an <see cref="IUpstreamSharedState"/> (replicas), one replica's "down" makes every replica wait (each reads the
/// shared verdict before each pass), only the replica holding the shared check sends it, and its "up" releases them all.
/// </summary>
internal sealed class RecoveryGateStrategy(
    ResilienceStrategyTelemetry polly, RecoveryGate gate, ResilienceOptions options, TimeProvider time, string model, string? upstream = null,
    SharedStateLink? sharedState = null, SharedStateKey key = default)
    : ResilienceStrategy<HttpResponseMessage>
{
    /// <summary>While another replica holds the check: how often to ask whether it has ended.</summary>
    internal static readonly TimeSpan SharedCheckPoll = TimeSpan.FromMilliseconds(100);

    private readonly SharedStateLink shared = sharedState ?? SharedStateLink.None;

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
            var fromShared = shared.Configured && await SyncFromSharedAsync(context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
            var decision = gate.Enter();
            if (decision.Kind == RecoveryDecisionKind.GoAsCheck && fromShared)
            {
                // One replica checks at a time: the others ask again shortly (or go, when the shared verdict is up).
                // Not cancellable (the link's deadline bounds it): this replica's gate is now checking, and only the code
                // below gives that back. The lease outlives the longest the check can take: a wait at the rate-limit gate
                // (MaxServerDelay), the attempt (AttemptTimeout) and the shared-state calls on its way.
                var lease = options.AttemptTimeout + options.MaxServerDelay + (4 * options.SharedState.Timeout);
                var (answered, take) = await shared.TryAsync((store, ct) => store.TryTakeCheckAsync(key, lease, ct), CancellationToken.None)
                    .ConfigureAwait(context.ContinueOnCapturedContext);
                if (answered && take.Kind == SharedCheckKind.Up && gate.IsDownShared)
                {
                    gate.AdoptUp();
                    continue;
                }

                if (answered && take.Kind is SharedCheckKind.Wait or SharedCheckKind.NotDue)
                {
                    // Not due on the shared clock: wait for it (and a call that cannot afford it fails now). Another replica
                    // checking: ask again shortly.
                    gate.CheckDeferred(take.Kind == SharedCheckKind.NotDue ? take.Wait : Min(take.Wait, SharedCheckPoll));
                    continue;
                }
            }

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
                var before = gate.State;
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

                    await TellSharedAsync(before).ConfigureAwait(context.ContinueOnCapturedContext);
                    return outcome;
                }
                else if (!isCheck)
                {
                    gate.Observe(CountsAsDown(outcome), time.GetElapsedTime(sent));
                    await TellSharedAsync(before).ConfigureAwait(context.ContinueOnCapturedContext);
                    return outcome;
                }
                else if (!CountsAsDown(outcome))
                {
                    gate.CheckEnded(up: true, time.GetElapsedTime(sent));
                    await TellSharedAsync(before).ConfigureAwait(context.ContinueOnCapturedContext);
                    return outcome;
                }
                else
                {
                    // A failed check is the gate's business, not one of this call's retries: it keeps waiting.
                    gate.CheckEnded(up: false, time.GetElapsedTime(sent));
                    outcome.Result?.Dispose();
                }

                await TellSharedAsync(before).ConfigureAwait(context.ContinueOnCapturedContext);
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
                [Tags.StateSource] = RateLimitTelemetry.Source(fromShared),
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

    /// <summary>
    /// Reads the shared verdict into this replica's gate: another replica's "down" makes this one wait for the shared
    /// check, and a shared "up" after a "down" it knew of releases the waiting calls. A "down" of this replica's own
    /// that the shared state never heard of (it did not answer then) is told now. False when it did not answer.
    /// </summary>
    private async ValueTask<bool> SyncFromSharedAsync(CancellationToken cancellationToken)
    {
        var (answered, verdict) = await shared.TryAsync((store, ct) => store.ReadRecoveryAsync(key, ct), cancellationToken).ConfigureAwait(false);
        if (!answered)
        {
            return false;
        }

        var local = gate.State;
        if (local == RecoveryState.Up && verdict.Down)
        {
            gate.AdoptDown(verdict.NextCheckIn);
        }
        else if (local != RecoveryState.Up && !verdict.Down)
        {
            if (gate.IsDownShared)
            {
                gate.AdoptUp();
            }
            else if (await shared.TryAsync((store, ct) => store.ReportDownAsync(key, gate.NextCheckIn, ct), cancellationToken).ConfigureAwait(false))
            {
                gate.MarkDownShared();
            }
        }

        return true;
    }

    /// <summary>Tells the shared state what this pass changed: the upstream went down (or its check failed), or came up.</summary>
    private async ValueTask TellSharedAsync(RecoveryState before)
    {
        if (!shared.Configured)
        {
            return;
        }

        var after = gate.State;
        if (after == RecoveryState.Down && before != RecoveryState.Down)
        {
            if (await shared.TryAsync((store, ct) => store.ReportDownAsync(key, gate.NextCheckIn, ct), CancellationToken.None).ConfigureAwait(false))
            {
                gate.MarkDownShared();
            }
        }
        else if (after == RecoveryState.Up && before != RecoveryState.Up)
        {
            await shared.TryAsync((store, ct) => store.ReportUpAsync(key, ct), CancellationToken.None).ConfigureAwait(false);
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
