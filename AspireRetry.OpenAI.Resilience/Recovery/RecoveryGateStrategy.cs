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

    private readonly RecoveryController controller = new(gate, options, time, sharedState ?? SharedStateLink.None, key);

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
        var wait = new WaitSpan(time);
        while (true)
        {
            if (await controller.EnterAsync(context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext) is not var (decision, fromShared))
            {
                continue;
            }

            var decidedAt = time.GetTimestamp();

            if (decision.Kind is RecoveryDecisionKind.Go or RecoveryDecisionKind.GoAsCheck)
            {
                wait.End(upstream);
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
                var before = gate.State;
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

                if (await controller.OnHandledOutcomeAsync(outcome, isCheck, before, sent, context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext))
                {
                    return outcome;
                }

                continue;
            }

            waitingSince ??= time.GetTimestamp();
            if (await WaitAsync(decision, decidedAt, time.GetElapsedTime(waitingSince.Value), fromShared, wait, context).ConfigureAwait(context.ContinueOnCapturedContext) is { } refused)
            {
                return Outcome.FromException<HttpResponseMessage>(refused);
            }
        }
    }

    /// <summary>
    /// Waits until the check is due, or until the check under way ends or outlives the failures, never past the call's
    /// budget; the exception that ends the call instead (the next check is further away than it may wait, or it was
    /// cancelled), or null once it may ask again.
    /// </summary>
    private async ValueTask<Exception?> WaitAsync(RecoveryDecision decision, long decidedAt, TimeSpan waited, bool fromShared, WaitSpan wait, ResilienceContext context)
    {
        // With a later upstream able to take the call, it does not wait here at all: it fails over.
        var maxRecoveryWait = UpstreamRoute.CurrentCanFailOver ? TimeSpan.Zero : options.CircuitBreaker.MaxRecoveryWait;
        var left = TimeSpans.Min(CallClock.Left(context, time, options), maxRecoveryWait - waited);
        // While a check is under way the wait is for its outcome, which no budget can be sure to cover: never refused for it.
        var nextCheck = decision.Kind == RecoveryDecisionKind.Wait ? decision.NextCheck : TimeSpan.Zero;
        if (nextCheck > left || left <= TimeSpan.Zero)
        {
            wait.End(upstream);
            return Reject(nextCheck, left, context);
        }

        // Timed from the decision, and armed before the wait is reported: however long reporting takes, the call wakes
        // when the check is due, not that much later.
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var delay = Task.Delay(TimeSpans.Max(TimeSpan.Zero, TimeSpans.Min(decision.NextCheck, left) - time.GetElapsedTime(decidedAt)), time, timer.Token);
        if (wait.Pass(decision, nextCheck, fromShared))
        {
            // Once per wait, not per pass: a wait that rides several checks (or polls the shared state) is one event on the
            // span (written when it ends) and one report to Polly's telemetry. The caller's live progress hears every pass.
            polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.RecoveryWait), context, nextCheck);
        }

        CallProgress.Current?.RecoveryWait(nextCheck);
        await Task.WhenAny(delay, decision.Changed).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        if (context.CancellationToken.IsCancellationRequested)
        {
            wait.End(upstream);
            return new OperationCanceledException(context.CancellationToken);
        }

        return null;
    }

    /// <summary>
    /// One stretch of waiting between two attempts (or before the call's end): when it began, the first pass's time to the
    /// next check, how many checks it rode out, and whether any pass read the shared state. <see cref="End"/> writes it as
    /// one <see cref="Events.RecoveryWait"/> span event stamped with its start.
    /// </summary>
    private sealed class WaitSpan(TimeProvider time)
    {
        private DateTimeOffset? _startedAt;
        private long _started;
        private TimeSpan _firstNextCheck;
        private int _checks;
        private bool _inCheck;
        private bool _shared;

        /// <summary>Counts one pass of the wait; true for the first pass, which begins it.</summary>
        public bool Pass(RecoveryDecision decision, TimeSpan nextCheck, bool fromShared)
        {
            var first = _startedAt is null;
            if (first)
            {
                _startedAt = time.GetUtcNow();
                _started = time.GetTimestamp();
                _firstNextCheck = nextCheck;
                _checks = 0;
                _inCheck = false;
                _shared = false;
            }

            // A check under way that this wait had not seen yet (a new one, after a pass that was waiting for the due time).
            var inCheck = decision.Kind == RecoveryDecisionKind.WaitForCheck;
            if (inCheck && !_inCheck)
            {
                _checks++;
            }

            _inCheck = inCheck;
            _shared |= fromShared;
            return first;
        }

        public void End(string? upstream)
        {
            if (_startedAt is { } at)
            {
                SpanEvents.RecoveryWait(at, _firstNextCheck, time.GetElapsedTime(_started), _checks, upstream, _shared);
                _startedAt = null;
            }
        }
    }

    private UpstreamDownException Reject(TimeSpan nextCheck, TimeSpan left, ResilienceContext context)
    {
        var limit = left < CallClock.Left(context, time, options)
            ? $"more than this call may still wait for it ({ResilienceOptions.SectionName}:CircuitBreaker:MaxRecoveryWait is {TimeSpans.Seconds(options.CircuitBreaker.MaxRecoveryWait)})"
            : CallClock.MoreThanLeft(left);
        var message = $"The model provider for {model} is down (the circuit breaker is open): its next check is in {TimeSpans.Seconds(nextCheck)}, {limit}.";
        SpanEvents.RecoveryRejected(nextCheck, left, upstream);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.RecoveryRejected), context, nextCheck);
        return new UpstreamDownException(message, nextCheck);
    }
}
