namespace AspireRetry.OpenAI.Resilience.SharedState;

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
public readonly record struct SharedGateReservation(bool Known, bool Rejected, TimeSpan Wait, long Generation, bool Closed, string? Token = null)
{
    /// <summary>The attempt's tokens were taken from the shared token bucket: give them back, or settle them, through the store.</summary>
    public bool TokensReserved { get; init; }

    /// <summary>The wait is for the shared token bucket to refill enough for the attempt's tokens.</summary>
    public bool ForTokens { get; init; }
}

/// <summary>What one response told about the upstream's rate limit.</summary>
/// <param name="Limit">The published request limit, when published.</param>
/// <param name="Remaining">The published remaining requests, when published.</param>
/// <param name="RatePerMs">The refill rate the published reset implies, in requests per millisecond.</param>
/// <param name="Reserve">Requests of the limit kept unspent (<c>RateLimit:Reserve</c> of the limit).</param>
/// <param name="CloseFor">How long the response closes the gate (a 429's server wait, or a spent token budget), if it does.</param>
/// <param name="Age">How long ago the attempt was sent: the count was taken at most this long ago.</param>
/// <param name="Token">The attempt's <see cref="SharedGateReservation.Token"/>, when the shared gate reserved its start.</param>
public readonly record struct SharedRateLimitObservation(long? Limit, long? Remaining, double? RatePerMs, long Reserve, TimeSpan? CloseFor, TimeSpan Age, string? Token = null)
{
    /// <summary>The published token limit, when published.</summary>
    public long? TokenLimit { get; init; }

    /// <summary>The published remaining tokens, when published.</summary>
    public long? TokenRemaining { get; init; }

    /// <summary>The refill rate the published token reset implies, in tokens per millisecond.</summary>
    public double? TokenRatePerMs { get; init; }

    /// <summary>Tokens the attempt reserved and did not spend (refused, failed, or it did not go): they come back.</summary>
    public long TokensUnspent { get; init; }
}

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

/// <summary>The retry budget's rule, as the shared state applies it to every replica's calls.</summary>
/// <param name="Ratio">A retry earned per call's first attempt.</param>
/// <param name="MinRetriesPerSecond">Retries always allowed, whatever the traffic.</param>
/// <param name="Window">The sliding window the budget counts over.</param>
public readonly record struct SharedBudgetRule(double Ratio, double MinRetriesPerSecond, TimeSpan Window);
