namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// How a <see cref="RateLimitGate"/> decides a start, in the order it moves through them. Closed (a 429's server wait,
/// or a token budget at its reserve) lies on top of any of them: nothing starts before the opening.
/// </summary>
internal enum GateMode
{
    /// <summary>The limits are not known yet: one attempt goes and finds them out, the rest wait for its answer.</summary>
    Probing,

    /// <summary>
    /// No limits published and no 429 met: a window of attempts in flight that widens by one per success, its attempts
    /// spread over the last round trip, so the first 429 stops the rest of a window before they are sent.
    /// </summary>
    SlowStart,

    /// <summary>The upstream published its limits: the gate mirrors its request bucket and paces at its refill rate.</summary>
    Published,

    /// <summary>No limits published: after a 429, starts are spaced by the refill interval learned from 429s.</summary>
    Learned,
}
