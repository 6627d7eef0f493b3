namespace AspireRetry.OpenAI.Resilience.SharedState;

/// <summary>
/// The state that replicas of one app share per upstream and model, so that three replicas meet one rate limit, one
/// retry budget and one breaker instead of three: the rate-limit gate's closed-until time and its mirror of the
/// upstream's request bucket, the retry budget's window, and whether the upstream is down (with one replica at a
/// time holding the check). Register an implementation (the Redis one: <c>AspireRetry.OpenAI.Resilience.Redis</c>)
/// and the retry layer asks it before deciding on its own state.
/// </summary>
/// <remarks>
/// Every method must be atomic across replicas and use one clock for all of them (the Redis store uses Redis's).
/// A method that throws or does not answer within <c>OpenAI:Resilience:SharedState:Timeout</c> is decided on the
/// replica's own in-process state instead, for that call and until the store answers again: a store in trouble never
/// fails a call. Waits are returned as durations, never as times, so replicas need not agree on their clocks.
/// </remarks>
public interface IUpstreamSharedState
{
    /// <summary>Reserves a start time for one attempt: at once, after the returned wait, or rejected when the wait is beyond <paramref name="maxWait"/>.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="maxWait">The longest wait the call can afford; a longer one is not reserved.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>The decision; <see cref="SharedGateReservation.Known"/> is false while the shared state knows neither limits nor a closing.</returns>
    ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, CancellationToken cancellationToken);

    /// <summary>
    /// Reserves a start time for one attempt and its estimated <paramref name="tokens"/> from the shared mirror of the
    /// upstream's token bucket, so replicas spend one bucket: the start may wait for the tokens too
    /// (<see cref="SharedGateReservation.ForTokens"/>). A store that keeps no token bucket ignores the tokens (this default),
    /// and each replica then paces its own attempts on its own mirror.
    /// </summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="maxWait">The longest wait the call can afford; a longer one is not reserved.</param>
    /// <param name="tokens">The attempt's estimated tokens (prompt and completion); 0 when unknown.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>The decision; <see cref="SharedGateReservation.TokensReserved"/> says whether the tokens were taken.</returns>
    ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, long tokens, CancellationToken cancellationToken) =>
        ReserveAsync(key, maxWait, cancellationToken);

    /// <summary>
    /// An answered attempt that reserved <paramref name="held"/> tokens spent <paramref name="spent"/> (its usage): the
    /// difference comes back to the shared bucket (or is taken from it). Nothing, by default.
    /// </summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="held">The tokens its reservation took.</param>
    /// <param name="spent">The tokens its answer reported.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>A task that completes when it is recorded.</returns>
    ValueTask SettleTokensAsync(SharedStateKey key, long held, long spent, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Whether a start time reserved in <paramref name="generation"/> still holds (no closing since).</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="generation">The reservation's <see cref="SharedGateReservation.Generation"/>.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>True when the gate has not closed again since.</returns>
    ValueTask<bool> IsCurrentAsync(SharedStateKey key, long generation, CancellationToken cancellationToken);

    /// <summary>
    /// Learns from one response: its published limits re-sync the shared mirror (never upwards), and a closing closes the gate
    /// for every replica. Also called, with nothing published, for an attempt that ended without a response, so that its
    /// reserved start no longer counts as in flight.
    /// </summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="observation">What the response said.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>How long the gate is closed for when this observation closed it; null when it closed nothing (or it was closed for longer already).</returns>
    ValueTask<TimeSpan?> ObserveAsync(SharedStateKey key, SharedRateLimitObservation observation, CancellationToken cancellationToken);

    /// <summary>A call's first attempt went out: it earns the shared retry budget its share.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="budget">The budget's settings (its window).</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>A task that completes when it is counted.</returns>
    ValueTask RecordRequestAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken);

    /// <summary>Takes one retry from the shared budget when it allows one.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="budget">The budget's settings.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>Whether it was taken, and the window's counts.</returns>
    ValueTask<SharedBudgetDecision> TryRetryAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken);

    /// <summary>Whether a replica has found the upstream down, and when it is next checked.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>The shared verdict.</returns>
    ValueTask<SharedRecoveryState> ReadRecoveryAsync(SharedStateKey key, CancellationToken cancellationToken);

    /// <summary>This replica found the upstream down (or its check failed): every replica waits, and the next check is due in <paramref name="nextCheckIn"/>.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="nextCheckIn">When the next check is due.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>A task that completes when it is recorded.</returns>
    ValueTask ReportDownAsync(SharedStateKey key, TimeSpan nextCheckIn, CancellationToken cancellationToken);

    /// <summary>Asks to be the one replica that checks the down upstream now.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="lease">How long the check may take before another replica may check instead (this one may have died).</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>Check now, wait (another replica checks), not due yet, or go (the upstream is up again).</returns>
    ValueTask<SharedCheckDecision> TryTakeCheckAsync(SharedStateKey key, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>A check or a call succeeded: the upstream is up for every replica.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>A task that completes when it is recorded.</returns>
    ValueTask ReportUpAsync(SharedStateKey key, CancellationToken cancellationToken);
}
