namespace AspireRetry.OpenAI.Resilience;

/// <summary>What went wrong with a call to the upstream, as <see cref="UpstreamFailure.Classify"/> names it.</summary>
public enum UpstreamFailureKind
{
    /// <summary>
    /// The upstream is down: its circuit breaker is open (<see cref="Polly.CircuitBreaker.BrokenCircuitException"/>),
    /// or its next check is further away than the call may wait (<see cref="UpstreamDownException"/>). Nothing was sent.
    /// </summary>
    Down,

    /// <summary>Our own rate-limit gate would hold the call beyond its budget (<see cref="RateLimitGateRejectedException"/>). Nothing was sent.</summary>
    GateClosed,

    /// <summary>An attempt, or the whole call, ran out of time (<see cref="Polly.Timeout.TimeoutRejectedException"/>).</summary>
    TimedOut,

    /// <summary>The upstream answered 429 for any reason but an exhausted quota: waiting helps.</summary>
    RateLimited,

    /// <summary>The upstream answered 429 <c>insufficient_quota</c>: the account's quota is used up, and waiting does not help.</summary>
    QuotaExhausted,

    /// <summary>The upstream answered 401 or 403: the key is missing, wrong or not allowed this model.</summary>
    KeyRejected,

    /// <summary>The upstream answered a status that says "try again" (408, 500, 502, 503, 504).</summary>
    Unavailable,

    /// <summary>The upstream answered 400 or 422: the request itself is at fault, so no other upstream would take it either.</summary>
    RequestInvalid,

    /// <summary>The upstream answered any other status that is final (404, say).</summary>
    Refused,

    /// <summary>The upstream could not be reached: no connection, or it closed before answering (<see cref="HttpRequestException"/>).</summary>
    Unreachable,

    /// <summary>The connection broke while the answer was arriving (<see cref="IOException"/>): it had begun, so it is never re-sent.</summary>
    StreamBroken,

    /// <summary>The call was cancelled (<see cref="OperationCanceledException"/>), by its caller or a timer not of this layer.</summary>
    Cancelled,

    /// <summary>
    /// The request's tokens are more than the upstream's whole token bucket holds (<see cref="RequestTooLargeException"/>):
    /// no wait helps; another upstream with a larger limit may take it. Nothing was sent.
    /// </summary>
    RequestTooLarge,
}
