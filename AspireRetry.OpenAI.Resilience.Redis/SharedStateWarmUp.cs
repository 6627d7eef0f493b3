using Microsoft.Extensions.Hosting;
using AspireRetry.OpenAI.Resilience.SharedState;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis;

/// <summary>
/// Connects to Redis while the app starts, not at its first call: with <c>AbortOnConnectFail = false</c> the connection is
/// made in the background when the client is first used, so the first calls of a replica found it not connected yet and
/// decided on the replica's own state. Waits at most
/// <see cref="Bound"/> and never fails the start: a Redis that is away is the fallback's business.
/// </summary>
internal sealed class SharedStateWarmUp(IConnectionMultiplexer redis, IUpstreamSharedState store) : IHostedService
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);
    private static readonly SharedStateKey WarmUpKey = new("warm-up", "warm-up", "warm-up");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!redis.IsConnected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        if (!redis.IsConnected)
        {
            return;
        }

        try
        {
            // A read that writes nothing: loads the script into Redis and runs the client's path once.
            var left = deadline - DateTime.UtcNow;
            await store.ReadRecoveryAsync(WarmUpKey, cancellationToken).AsTask()
                .WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Away again already, or slow (a RedisTimeoutException is a TimeoutException, not a RedisException): the replica
            // decides on its own state until it answers. Never a reason to stop the app.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
