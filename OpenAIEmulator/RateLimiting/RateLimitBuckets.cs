using AspireRetry.OpenAI.Resilience;
using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator.RateLimiting;

/// <summary>What the <c>x-ratelimit-*</c> headers report.</summary>
public sealed record RateLimitSnapshot(
    int LimitRequests, int RemainingRequests, TimeSpan ResetRequests,
    int LimitTokens, int RemainingTokens, TimeSpan ResetTokens);

/// <summary>
/// The verdict for one request. When refused, <see cref="RetryAfter"/> is the exact time until it
/// would be admitted and <see cref="LimitType"/> says which bucket ran dry ("requests" or "tokens").
/// </summary>
public sealed record RateLimitResult(bool Admitted, RateLimitSnapshot Snapshot, TimeSpan RetryAfter, string? LimitType, int Requested)
{
    /// <summary>The request needs more tokens than the bucket holds: waiting never helps.</summary>
    public bool TooLarge => !Admitted && Requested > Snapshot.LimitTokens && LimitType == "tokens";
}

/// <summary>
/// Requests and tokens buckets per caller and model (as OpenAI limits per organisation and model).
/// A request costs one request and its prompt plus completion tokens; it is admitted only when
/// both buckets hold enough, and then takes from both. Changing the settings starts full buckets.
/// </summary>
public sealed class RateLimitBuckets(TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Caller, string Model), (TokenBucket Requests, TokenBucket Tokens)> _buckets = [];
    private RateLimitBucketSettings? _current;

    public RateLimitResult TryAcquire(string? caller, string model, int tokens, RateLimitBucketSettings settings)
    {
        if (!settings.Enabled)
        {
            return new RateLimitResult(true, Unlimited(settings, tokens), TimeSpan.Zero, null, tokens);
        }

        lock (_lock)
        {
            var (requestBucket, tokenBucket) = BucketsFor(caller, model, settings);
            var waitForRequest = requestBucket.TimeUntil(1);
            var waitForTokens = tokens > tokenBucket.Capacity ? TimeSpan.Zero : tokenBucket.TimeUntil(tokens);
            if (tokens > tokenBucket.Capacity || waitForRequest > TimeSpan.Zero || waitForTokens > TimeSpan.Zero)
            {
                var limitType = waitForRequest >= waitForTokens && tokens <= tokenBucket.Capacity ? "requests" : "tokens";
                return new RateLimitResult(false, Snapshot(requestBucket, tokenBucket), TimeSpans.Max(waitForRequest, waitForTokens), limitType, tokens);
            }

            requestBucket.Take(1);
            tokenBucket.Take(tokens);
            return new RateLimitResult(true, Snapshot(requestBucket, tokenBucket), TimeSpan.Zero, null, tokens);
        }
    }

    /// <summary>The headers for a request that bypasses the buckets (a scripted outcome): nothing is taken.</summary>
    public RateLimitSnapshot Peek(string? caller, string model, int tokens, RateLimitBucketSettings settings)
    {
        if (!settings.Enabled)
        {
            return Unlimited(settings, tokens);
        }

        lock (_lock)
        {
            var (requestBucket, tokenBucket) = BucketsFor(caller, model, settings);
            return Snapshot(requestBucket, tokenBucket);
        }
    }

    private (TokenBucket Requests, TokenBucket Tokens) BucketsFor(string? caller, string model, RateLimitBucketSettings settings)
    {
        if (!settings.Equals(_current))
        {
            _buckets.Clear();
            _current = settings;
        }

        var key = (caller ?? "", model);
        if (!_buckets.TryGetValue(key, out var pair))
        {
            var window = TimeSpan.FromMilliseconds(settings.WindowMs);
            _buckets[key] = pair = (new TokenBucket(settings.RequestsPerWindow, window, time), new TokenBucket(settings.TokensPerWindow, window, time));
        }

        pair.Requests.Refill();
        pair.Tokens.Refill();
        return pair;
    }

    private static RateLimitSnapshot Snapshot(TokenBucket requests, TokenBucket tokens) => new(
        requests.Capacity, requests.Remaining, requests.TimeUntilFull,
        tokens.Capacity, tokens.Remaining, tokens.TimeUntilFull);

    // With rate limiting off, report what a full bucket would after this one request.
    private static RateLimitSnapshot Unlimited(RateLimitBucketSettings settings, int tokens)
    {
        var window = (double)settings.WindowMs;
        var spent = Math.Min(tokens, settings.TokensPerWindow);
        return new RateLimitSnapshot(
            settings.RequestsPerWindow, settings.RequestsPerWindow - 1, TimeSpan.FromMilliseconds(window / settings.RequestsPerWindow),
            settings.TokensPerWindow, settings.TokensPerWindow - spent, TimeSpan.FromMilliseconds(window * spent / settings.TokensPerWindow));
    }
}
