using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>Bucket arithmetic on a fake clock.</summary>
public sealed class RateLimitBucketsTests
{
    private readonly FakeTimeProvider _clock = new();

    private static RateLimitBucketSettings Limits(int requests, int tokens, int windowMs) =>
        new() { Enabled = true, RequestsPerWindow = requests, TokensPerWindow = tokens, WindowMs = windowMs };

    [Fact]
    public void Bucket_refills_continuously_and_never_beyond_capacity()
    {
        var bucket = new TokenBucket(10, TimeSpan.FromMilliseconds(1000), _clock);
        bucket.Take(10);

        _clock.Advance(TimeSpan.FromMilliseconds(250));
        bucket.Refill();
        Assert.Equal(2.5, bucket.Available, 9);
        Assert.Equal(2, bucket.Remaining);
        Assert.Equal(TimeSpan.FromMilliseconds(750), bucket.TimeUntilFull);
        Assert.Equal(TimeSpan.FromMilliseconds(50), bucket.TimeUntil(3));

        _clock.Advance(TimeSpan.FromSeconds(5));
        bucket.Refill();
        Assert.Equal(10, bucket.Available);
        Assert.Equal(TimeSpan.Zero, bucket.TimeUntilFull);
    }

    [Fact]
    public void Refused_request_is_told_the_exact_wait_and_is_admitted_after_it()
    {
        var buckets = new RateLimitBuckets(_clock);
        var settings = Limits(requests: 3, tokens: 1_000, windowMs: 300);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(buckets.TryAcquire("c", "gpt-4o", 10, settings).Admitted);
        }

        var refused = buckets.TryAcquire("c", "gpt-4o", 10, settings);
        Assert.False(refused.Admitted);
        Assert.Equal("requests", refused.LimitType);
        Assert.Equal(100, TokenBucket.CeilingMilliseconds(refused.RetryAfter));
        Assert.Equal(0, refused.Snapshot.RemainingRequests);
        Assert.Equal(TimeSpan.FromMilliseconds(300), refused.Snapshot.ResetRequests);

        _clock.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(buckets.TryAcquire("c", "gpt-4o", 10, settings).Admitted);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var admitted = buckets.TryAcquire("c", "gpt-4o", 10, settings);
        Assert.True(admitted.Admitted);
        Assert.Equal(0, admitted.Snapshot.RemainingRequests);
    }

    [Fact]
    public void Tokens_bucket_refuses_with_the_time_the_missing_tokens_take()
    {
        var buckets = new RateLimitBuckets(_clock);
        var settings = Limits(requests: 100, tokens: 100, windowMs: 1000);

        Assert.True(buckets.TryAcquire("c", "gpt-4o", 70, settings).Admitted);
        var refused = buckets.TryAcquire("c", "gpt-4o", 50, settings);

        Assert.False(refused.Admitted);
        Assert.Equal("tokens", refused.LimitType);
        Assert.Equal(30, refused.Snapshot.RemainingTokens);
        Assert.Equal(200, TokenBucket.CeilingMilliseconds(refused.RetryAfter));
        Assert.Equal(99, refused.Snapshot.RemainingRequests);
        Assert.Equal(50, refused.Requested);
    }

    [Fact]
    public void Refused_request_takes_nothing_from_either_bucket()
    {
        var buckets = new RateLimitBuckets(_clock);
        var settings = Limits(requests: 5, tokens: 100, windowMs: 1000);

        Assert.True(buckets.TryAcquire("c", "gpt-4o", 90, settings).Admitted);
        Assert.False(buckets.TryAcquire("c", "gpt-4o", 20, settings).Admitted);
        var small = buckets.TryAcquire("c", "gpt-4o", 10, settings);

        Assert.True(small.Admitted);
        Assert.Equal(3, small.Snapshot.RemainingRequests);
        Assert.Equal(0, small.Snapshot.RemainingTokens);
    }

    [Fact]
    public void Request_larger_than_the_token_bucket_is_too_large_not_worth_retrying()
    {
        var buckets = new RateLimitBuckets(_clock);

        var refused = buckets.TryAcquire("c", "gpt-4o", 500, Limits(requests: 10, tokens: 100, windowMs: 1000));

        Assert.False(refused.Admitted);
        Assert.True(refused.TooLarge);
    }

    [Fact]
    public void Buckets_are_separate_per_caller_and_model()
    {
        var buckets = new RateLimitBuckets(_clock);
        var settings = Limits(requests: 1, tokens: 1_000, windowMs: 60_000);

        Assert.True(buckets.TryAcquire("a", "gpt-4o", 1, settings).Admitted);
        Assert.True(buckets.TryAcquire("b", "gpt-4o", 1, settings).Admitted);
        Assert.True(buckets.TryAcquire("a", "gpt-4o-mini", 1, settings).Admitted);
        Assert.True(buckets.TryAcquire(null, "gpt-4o", 1, settings).Admitted);
        Assert.False(buckets.TryAcquire("a", "gpt-4o", 1, settings).Admitted);
    }

    [Fact]
    public void Changed_settings_start_with_full_buckets()
    {
        var buckets = new RateLimitBuckets(_clock);
        Assert.True(buckets.TryAcquire("c", "gpt-4o", 1, Limits(1, 1_000, 60_000)).Admitted);
        Assert.False(buckets.TryAcquire("c", "gpt-4o", 1, Limits(1, 1_000, 60_000)).Admitted);

        var afterChange = buckets.TryAcquire("c", "gpt-4o", 1, Limits(2, 1_000, 60_000));

        Assert.True(afterChange.Admitted);
        Assert.Equal(1, afterChange.Snapshot.RemainingRequests);
    }

    [Fact]
    public void Disabled_limiter_admits_everything_and_reports_an_idle_account()
    {
        var buckets = new RateLimitBuckets(_clock);
        var settings = new RateLimitBucketSettings { RequestsPerWindow = 500, TokensPerWindow = 30_000, WindowMs = 60_000 };

        var results = Enumerable.Range(0, 1000).Select(_ => buckets.TryAcquire("c", "gpt-4o", 300, settings)).ToList();

        Assert.All(results, r => Assert.True(r.Admitted));
        var snapshot = results[^1].Snapshot;
        Assert.Equal(499, snapshot.RemainingRequests);
        Assert.Equal(TimeSpan.FromMilliseconds(120), snapshot.ResetRequests);
        Assert.Equal(29_700, snapshot.RemainingTokens);
        Assert.Equal(TimeSpan.FromMilliseconds(600), snapshot.ResetTokens);
    }
}
