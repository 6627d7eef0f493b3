using Polly;
using Polly.CircuitBreaker;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The recovery strategy's decisions, as Polly's circuit breaker hands its to a controller: what a call may do on
/// entering (go, go as the check, wait), and what an attempt's outcome means for the recovery
/// (<see cref="OnHandledOutcomeAsync"/>). With an <see cref="IUpstreamSharedState"/> (replicas) it reads the shared
/// verdict before each pass, holds the shared check lease for the replica that checks, and tells the shared state what
/// each pass changed.
/// </summary>
internal sealed class RecoveryController(RecoveryGate gate, ResilienceOptions options, TimeProvider time, SharedStateLink shared, SharedStateKey key)
{
    public RecoveryGate Gate => gate;

    /// <summary>The gate's decision for a call entering, and whether the shared state answered; null when the call should ask again at once.</summary>
    public async ValueTask<(RecoveryDecision Decision, bool FromShared)?> EnterAsync(CancellationToken cancellationToken)
    {
        var fromShared = shared.Configured && await SyncFromSharedAsync(cancellationToken).ConfigureAwait(false);
        var decision = gate.Enter();
        if (decision.Kind != RecoveryDecisionKind.GoAsCheck || !fromShared)
        {
            return (decision, fromShared);
        }

        // One replica checks at a time: the others ask again shortly (or go, when the shared verdict is up). Not
        // cancellable (the link's deadline bounds it): this replica's gate is now checking, and only the call's pass gives
        // that back. The lease outlives the longest the check can take: a wait at the rate-limit gate (MaxServerDelay),
        // the attempt (AttemptTimeout) and the shared-state calls on its way.
        var lease = options.AttemptTimeout + options.MaxServerDelay + (4 * options.SharedState.Timeout);
        var (answered, take) = await shared.TryAsync((store, ct) => store.TryTakeCheckAsync(key, lease, ct), CancellationToken.None).ConfigureAwait(false);
        if (answered && take.Kind == SharedCheckKind.Up && gate.IsDownShared)
        {
            gate.AdoptUp();
            return null;
        }

        if (answered && take.Kind is SharedCheckKind.Wait or SharedCheckKind.NotDue)
        {
            // Not due on the shared clock: wait for it (and a call that cannot afford it fails now). Another replica
            // checking: ask again shortly.
            gate.CheckDeferred(take.Kind == SharedCheckKind.NotDue ? take.Wait : TimeSpans.Min(take.Wait, RecoveryGateStrategy.SharedCheckPoll));
            return null;
        }

        return (decision, fromShared);
    }

    /// <summary>
    /// What an attempt's outcome means for the recovery. True when the call has its outcome; false when it keeps
    /// waiting: a failed check is the gate's business, not one of the call's retries, and an attempt that met the
    /// breaker open before the gate heard of it waits with the others.
    /// </summary>
    /// <param name="outcome">The attempt's outcome.</param>
    /// <param name="isCheck">Whether the attempt was the recovery check.</param>
    /// <param name="before">The gate's state when the attempt went.</param>
    /// <param name="sent">When the attempt went (a timestamp of the clock).</param>
    /// <param name="cancellationToken">The call's token.</param>
    public async ValueTask<bool> OnHandledOutcomeAsync(
        Outcome<HttpResponseMessage> outcome, bool isCheck, RecoveryState before, long sent, CancellationToken cancellationToken)
    {
        var done = true;
        if (outcome.Exception is BrokenCircuitException and not IsolatedCircuitException)
        {
            gate.BreakerOpened();
            if (isCheck)
            {
                gate.CheckAbandoned();
            }

            done = false;
        }
        else if (outcome.Exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            if (isCheck)
            {
                gate.CheckAbandoned();
            }
        }
        else if (!isCheck)
        {
            gate.Observe(RecoveryGateStrategy.CountsAsDown(outcome), time.GetElapsedTime(sent));
        }
        else if (!RecoveryGateStrategy.CountsAsDown(outcome))
        {
            gate.CheckEnded(up: true, time.GetElapsedTime(sent));
        }
        else
        {
            gate.CheckEnded(up: false, time.GetElapsedTime(sent));
            outcome.Result?.Dispose();
            done = false;
        }

        await TellSharedAsync(before).ConfigureAwait(false);
        return done;
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
}
