namespace AspireRetry.OpenAI.Resilience;

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
    ValueTask RecordRequestAsync(SharedStateKey key, RetryBudgetOptions budget, CancellationToken cancellationToken);

    /// <summary>Takes one retry from the shared budget when it allows one.</summary>
    /// <param name="key">The upstream and model.</param>
    /// <param name="budget">The budget's settings.</param>
    /// <param name="cancellationToken">Cancels the store call.</param>
    /// <returns>Whether it was taken, and the window's counts.</returns>
    ValueTask<SharedBudgetDecision> TryRetryAsync(SharedStateKey key, RetryBudgetOptions budget, CancellationToken cancellationToken);

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

/// <summary>One upstream and model, as the shared state knows it. Holds no secret.</summary>
/// <param name="Upstream">The upstream's name (its connection string's: <c>openai</c>, <c>openai-2</c>).</param>
/// <param name="Endpoint">The upstream's endpoint, so two apps that give one name to different endpoints stay apart.</param>
/// <param name="Model">The model.</param>
public readonly record struct SharedStateKey(string Upstream, string Endpoint, string Model);

/// <summary>The shared gate's decision for one attempt.</summary>
/// <param name="Known">False while the shared state has neither limits nor a closing: the replica's own gate decides alone.</param>
/// <param name="Rejected">The wait is beyond what the call can afford: nothing was reserved.</param>
/// <param name="Wait">How long to wait before the attempt goes (zero: now).</param>
/// <param name="Generation">The gate's generation; a closing bumps it and voids the start times reserved before.</param>
/// <param name="Closed">The wait is for a closed gate (a 429's server wait), not pacing.</param>
/// <param name="Token">
/// The reserved start, as the store knows it: hand it back with the attempt's <see cref="SharedRateLimitObservation"/>, so the
/// store counts the attempt as answered (a published count may include it) and not as still in flight.
/// </param>
public readonly record struct SharedGateReservation(bool Known, bool Rejected, TimeSpan Wait, long Generation, bool Closed, string? Token = null);

/// <summary>What one response told about the upstream's rate limit.</summary>
/// <param name="Limit">The published request limit, when published.</param>
/// <param name="Remaining">The published remaining requests, when published.</param>
/// <param name="RatePerMs">The refill rate the published reset implies, in requests per millisecond.</param>
/// <param name="Reserve">Requests of the limit kept unspent (<c>RateLimit:Reserve</c> of the limit).</param>
/// <param name="CloseFor">How long the response closes the gate (a 429's server wait, or a spent token budget), if it does.</param>
/// <param name="Age">How long ago the attempt was sent: the count was taken at most this long ago.</param>
/// <param name="Token">The attempt's <see cref="SharedGateReservation.Token"/>, when the shared gate reserved its start.</param>
public readonly record struct SharedRateLimitObservation(long? Limit, long? Remaining, double? RatePerMs, long Reserve, TimeSpan? CloseFor, TimeSpan Age, string? Token = null);

/// <summary>The shared retry budget's answer.</summary>
/// <param name="Allowed">The retry was taken.</param>
/// <param name="Requests">First attempts in the window.</param>
/// <param name="Retries">Retries in the window.</param>
/// <param name="Limit">Retries the window allows.</param>
public readonly record struct SharedBudgetDecision(bool Allowed, int Requests, int Retries, int Limit);

/// <summary>The shared verdict on an upstream.</summary>
/// <param name="Down">A replica found it down and no check has succeeded since.</param>
/// <param name="NextCheckIn">When it is down: how long until the next check is due.</param>
public readonly record struct SharedRecoveryState(bool Down, TimeSpan NextCheckIn);

/// <summary>What <see cref="IUpstreamSharedState.TryTakeCheckAsync"/> decided.</summary>
public enum SharedCheckKind
{
    /// <summary>The upstream is up again: go, not as a check.</summary>
    Up,

    /// <summary>This replica holds the check: its attempt is the check.</summary>
    Check,

    /// <summary>Another replica holds the check: ask again after at most <see cref="SharedCheckDecision.Wait"/> (what is left of its lease).</summary>
    Wait,

    /// <summary>The next check is not due: it is due in <see cref="SharedCheckDecision.Wait"/>.</summary>
    NotDue,
}

/// <summary>The answer to a request for the check.</summary>
/// <param name="Kind">Go, check or wait.</param>
/// <param name="Wait">When waiting: how long before asking again.</param>
public readonly record struct SharedCheckDecision(SharedCheckKind Kind, TimeSpan Wait);
