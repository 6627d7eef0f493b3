using Polly.CircuitBreaker;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The upstream is down (the circuit breaker is open) and its next check is further away than this call may
/// still wait (<c>CircuitBreaker:MaxRecoveryWait</c>, or what is left of <c>TotalTimeout</c>), so it fails now.
/// <see cref="BrokenCircuitException.RetryAfter"/> is the time until that check, for the caller's Retry-After.
/// A <see cref="BrokenCircuitException"/>, so whatever handles an open breaker handles it; it is not retried.
/// </summary>
public sealed class UpstreamDownException : BrokenCircuitException
{
    /// <summary>Creates the exception with no message.</summary>
    public UpstreamDownException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened, for a person.</param>
    public UpstreamDownException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What happened, for a person.</param>
    /// <param name="innerException">The cause.</param>
    public UpstreamDownException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the time until the next check.</summary>
    /// <param name="message">What happened, for a person.</param>
    /// <param name="nextCheck">How long until the breaker checks the upstream again.</param>
    public UpstreamDownException(string message, TimeSpan nextCheck)
        : base(message, nextCheck)
    {
    }
}
