using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using AspireRetry.OpenAI.Resilience.SharedState;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis;

/// <summary>Registration of the Redis shared state.</summary>
public static class RedisSharedStateExtensions
{
    /// <summary>
    /// Makes the retry layer share its rate-limit gate, retry budget and breaker with every replica that uses the same
    /// Redis, through the <see cref="IConnectionMultiplexer"/> registered in <paramref name="services"/> (Aspire's
    /// <c>AddRedisClient</c> registers one). Build that connection with <c>AbortOnConnectFail = false</c>, so a replica
    /// that starts before Redis (or outlives it) keeps reconnecting while it decides on its own state. The app's start
    /// waits up to 5 s for the connection, so that its first calls already share.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <returns>The same services, to chain on.</returns>
    public static IServiceCollection AddRedisUpstreamSharedState(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<IUpstreamSharedState>(provider => new RedisUpstreamSharedState(provider.GetRequiredService<IConnectionMultiplexer>()));
        services.AddHostedService<SharedStateWarmUp>();
        return services;
    }
}
