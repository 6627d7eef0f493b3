using AspireRetry.OpenAIEmulator.RateLimiting;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>Everything needed to answer one model request: the fault and its parameters resolved.</summary>
public sealed record ChaosDecision(
    ChaosOutcome Outcome,
    Fault Fault,
    RateLimitResult RateLimit,
    RetryAdvice? RetryAfter,
    StreamPacing Pacing,
    TimeSpan HangFor)
{
    public int? StatusCode => Fault.ToStatusCode();

    /// <summary>Which <c>x-ratelimit-*</c> headers the response carries (<see cref="RateLimitBucketSettings.HeaderStyle"/>).</summary>
    public RateLimitHeaderStyle RateLimitHeaders { get; init; } = RateLimitHeaderStyle.Full;
}
