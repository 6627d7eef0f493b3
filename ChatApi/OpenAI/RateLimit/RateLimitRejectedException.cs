using Polly;

namespace AspireRetry.ChatApi.OpenAI.RateLimit;

/// <summary>
/// The rate-limit gate would hold this call longer than its budget allows (what is left of
/// <c>TotalTimeout</c>, or <c>MaxServerDelay</c>), so it fails now, carrying the wait for the caller's
/// Retry-After. A rejection, like an open breaker's: it is not retried and the upstream never saw it.
/// </summary>
public sealed class RateLimitRejectedException : ExecutionRejectedException
{
    public RateLimitRejectedException()
    {
    }

    public RateLimitRejectedException(string message)
        : base(message)
    {
    }

    public RateLimitRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RateLimitRejectedException(TimeSpan wait, string message)
        : base(message) => Wait = wait;

    /// <summary>How long until the gate would have let this call through.</summary>
    public TimeSpan Wait { get; }
}
