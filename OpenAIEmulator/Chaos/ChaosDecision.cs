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

    /// <summary>Whether the response carries the <c>x-ratelimit-*</c> headers (<see cref="RateLimitBucketSettings.PublishHeaders"/>).</summary>
    public bool PublishRateLimitHeaders { get; init; } = true;
}
