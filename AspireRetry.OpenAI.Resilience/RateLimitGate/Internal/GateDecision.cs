namespace AspireRetry.OpenAI.Resilience;

/// <summary>Why an attempt waits at the gate; also the metric's and the span event's reason tag.</summary>
internal enum GateWaitReason
{
    /// <summary>A 429 with a server wait, or a spent token budget, closed the gate.</summary>
    Closed,

    /// <summary>The request budget is at its reserve: attempts are spread at the upstream's refill rate.</summary>
    Paced,

    /// <summary>
    /// The limits are not known yet: the first attempt finds them out while the rest wait, then (with no limits
    /// published) the slow-start window holds the attempts beyond it.
    /// </summary>
    Probe,

    /// <summary>The token bucket lacks this request's estimated tokens: it waits for them to refill.</summary>
    Tokens,
}

/// <summary>What <see cref="RateLimitGate.Reserve"/> (or <see cref="RateLimitGate.Admit"/>) decided for one attempt.</summary>
/// <param name="Kind">Go, wait, or reject.</param>
/// <param name="Wait">How long to wait first.</param>
/// <param name="Reason">Why it waits.</param>
/// <param name="Generation">The gate's generation: a closing since voids a reserved start.</param>
/// <param name="Probe">What to wait for, when the wait is for the probe or a place in the slow-start window.</param>
/// <param name="Start">
/// When an attempt that goes (now or after the wait) was given its start: hand it back to <see cref="RateLimitGate.Observe"/>
/// or <see cref="RateLimitGate.AttemptEnded"/>, which take it off the attempts still unanswered.
/// </param>
/// <param name="Tokens">The tokens reserved for the attempt (none while the token bucket is not known), or the request's tokens when it is too large.</param>
internal readonly record struct GateDecision(GateDecisionKind Kind, TimeSpan Wait, GateWaitReason Reason, int Generation, Task? Probe, TimeSpan? Start = null, long Tokens = 0)
{
    public static GateDecision Go(TimeSpan start, bool probe = false, long tokens = 0) =>
        new(probe ? GateDecisionKind.GoAsProbe : GateDecisionKind.Go, TimeSpan.Zero, GateWaitReason.Paced, 0, null, start, tokens);
}

internal enum GateDecisionKind
{
    /// <summary>Go now.</summary>
    Go,

    /// <summary>Go now, as the probe whose response tells everyone the limits; call <see cref="RateLimitGate.ProbeEnded"/> after.</summary>
    GoAsProbe,

    /// <summary>Go now, within the slow-start window; call <see cref="RateLimitGate.WindowAttemptEnded"/> after.</summary>
    GoInWindow,

    /// <summary>A start time is reserved: wait <see cref="GateDecision.Wait"/>, then go unless the gate closed again meanwhile.</summary>
    Wait,

    /// <summary>Wait for the probe to end (or for a place in the slow-start window), then ask again.</summary>
    WaitForProbe,

    /// <summary>
    /// Wait <see cref="GateDecision.Wait"/> (the slow-start window's spacing, pacing on estimated limits, or the time until a
    /// call that lets others ahead expects its tokens), then ask again: nothing is reserved.
    /// </summary>
    WaitThenAsk,

    /// <summary>The wait is beyond the caller's budget: fail now, nothing reserved.</summary>
    Reject,

    /// <summary>The request's tokens are more than the whole token bucket: no wait helps; fail now, nothing reserved.</summary>
    TooLarge,
}
