using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The shared rate-limit gate would hold this call longer than its budget allows (what is left of
/// <c>TotalTimeout</c>, or <c>MaxServerDelay</c>), so it fails now, carrying the wait for the caller's
/// Retry-After. A rejection, like an open breaker's: it is not retried and the upstream never saw it.
/// (Not Polly's <c>RateLimiterRejectedException</c>, which a rate limiter strategy throws.)
/// </summary>
public sealed class RateLimitGateRejectedException : ExecutionRejectedException
{
    /// <summary>Creates the exception with no message.</summary>
    public RateLimitGateRejectedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened, for a person.</param>
    public RateLimitGateRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What happened, for a person.</param>
    /// <param name="innerException">The cause.</param>
    public RateLimitGateRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the gate's wait.</summary>
    /// <param name="wait">How long until the gate would have let the call through.</param>
    /// <param name="message">What happened, for a person.</param>
    public RateLimitGateRejectedException(TimeSpan wait, string message)
        : base(message) => Wait = wait;

    /// <summary>How long until the gate would have let this call through.</summary>
    public TimeSpan Wait { get; }
}
