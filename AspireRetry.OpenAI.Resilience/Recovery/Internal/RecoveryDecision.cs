namespace AspireRetry.OpenAI.Resilience;

/// <summary>What the gate knows about the upstream.</summary>
internal enum RecoveryState
{
    /// <summary>Calls go.</summary>
    Up,

    /// <summary>Down: calls wait for the next check.</summary>
    Down,

    /// <summary>Down, and one call's attempt is the check; the others wait for its outcome.</summary>
    Checking,
}

internal enum RecoveryDecisionKind
{
    /// <summary>The upstream is up: go.</summary>
    Go,

    /// <summary>Go as the check; report its outcome with <see cref="RecoveryGate.CheckEnded"/>.</summary>
    GoAsCheck,

    /// <summary>Wait for the next check (<see cref="RecoveryDecision.NextCheck"/>), or for <see cref="RecoveryDecision.Changed"/>.</summary>
    Wait,

    /// <summary>
    /// A check is under way: wait for <see cref="RecoveryDecision.Changed"/>, or until <see cref="RecoveryDecision.NextCheck"/>,
    /// when the check will have outlived every failure (<see cref="TimeSpan.MaxValue"/> when no failure was timed).
    /// </summary>
    WaitForCheck,
}

/// <summary>What the gate decided for one pass of a call: go, go as the check, or wait (and how long until the next check).</summary>
/// <param name="Kind">What the call does now.</param>
/// <param name="NextCheck">How long to wait before asking again, when it waits.</param>
/// <param name="Changed">Completes when the gate's state changes, which also ends a wait.</param>
/// <param name="CloseBreaker">
/// The first call let go on a check's sign of life: it closes the breaker (<see cref="RecoveryGate.Breaker"/>), which
/// would otherwise turn back every call but the check while it is half-open.
/// </param>
internal readonly record struct RecoveryDecision(RecoveryDecisionKind Kind, TimeSpan NextCheck, Task Changed, bool CloseBreaker = false);
