using AspireRetry.OpenAI.Resilience.SharedState;
using AspireRetry.Tests.Shared;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>The shared token bucket's scripts on a real redis-server, driven as a replica's gate drives them.</summary>
public sealed class TokenBucketScripts(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_refusal_for_tokens_gives_its_tokens_back_before_the_count_so_the_next_call_of_its_size_waits()
    {
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var store = new RedisUpstreamSharedState(connection);
        var key = new SharedStateKey("openai", "http://upstream/v1", $"gpt-4o-{Guid.NewGuid():N}");
        var plenty = TimeSpan.FromMinutes(1);

        // An answer publishes the bucket: 6,000 tokens, 5,000 left, 0.1 a millisecond.
        await store.ObserveAsync(key, Counts(remaining: 5_000, age: TimeSpan.Zero), Ct);
        var first = await store.ReserveAsync(key, plenty, 1_000, Ct);
        Assert.True(first.TokensReserved);
        Assert.Equal(TimeSpan.Zero, first.Wait);

        // Its 429: another client spent the bucket, 500 are left. The refused attempt's 1,000 come back, then the count
        // holds: 500 usable, so the next 1,000 wait about 5 s (taken the other way round, 1,500 would be usable and it
        // would go out to meet the same 429).
        await store.ObserveAsync(key, Counts(remaining: 500, age: TimeSpan.FromMilliseconds(5)) with { Token = first.Token, TokensUnspent = 1_000 }, Ct);
        var next = await store.ReserveAsync(key, plenty, 1_000, Ct);

        Assert.InRange(next.Wait.TotalMilliseconds, 4_000, 5_100);
    }

    private static SharedRateLimitObservation Counts(long remaining, TimeSpan age) =>
        new(null, null, null, 0, null, age) { TokenLimit = 6_000, TokenRemaining = remaining, TokenRatePerMs = 0.1 };
}
