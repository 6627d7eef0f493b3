using AspireRetry.OpenAI.Resilience.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace AspireRetry.ChatApi.SharedState;

/// <summary>
/// The Redis that ChatApi replicas share their rate limits, retry budget and breaker through, when the AppHost runs more
/// than one (it then sets <c>ConnectionStrings:redis</c>). A single ChatApi has no Redis and keeps its state in process.
/// </summary>
public static class SharedStateExtensions
{
    /// <summary>The connection string's name, the AppHost's Redis resource's.</summary>
    public const string RedisConnectionName = "redis";

    /// <summary>What Aspire.StackExchange.Redis names the health check of a client without a service key.</summary>
    internal const string RedisHealthCheckName = "StackExchange.Redis";

    /// <summary>
    /// With <c>ConnectionStrings:redis</c>: Aspire's Redis client (connection, health check, tracing) and the retry layer's
    /// state shared through it (one rate-limit gate, retry budget and breaker for every replica). Without it, nothing:
    /// the state stays in process.
    /// </summary>
    public static IHostApplicationBuilder AddSharedState(this IHostApplicationBuilder builder)
    {
        if (builder.Configuration.GetConnectionString(RedisConnectionName) is not { Length: > 0 })
        {
            return builder;
        }

        builder.AddRedisClient(RedisConnectionName, configureSettings: settings =>
        {
            // No span per Redis command: each decision is one script, four to six per attempt, and their "DATA redis EVAL"
            // spans buried a chat's attempts in its trace. What the shared state decided is on the gate's and the breaker's
            // events instead (aspireretry.state_source), and Redis trouble is a warning in the logs.
            settings.DisableTracing = true;
        }, configureOptions: options =>
        {
            // Start, and keep reconnecting, when Redis is not up yet or goes away: the replica serves chats on its
            // in-process state meanwhile and rejoins the others when a connection succeeds (Redis never fails a chat).
            options.AbortOnConnectFail = false;

            // While disconnected, fail a command at once instead of queueing it until the client's timeout (5 s): the
            // replica then decides on its own state straight away. Measured with the default backlog: /health took 7 s
            // against an unreachable Redis (its ping waited; the health check's own Timeout cannot cut it short, as
            // StackExchange.Redis takes no cancellation token).
            options.BacklogPolicy = BacklogPolicy.FailFast;
        });

        builder.Services.AddRedisUpstreamSharedState();

        // Degraded, not Unhealthy: a replica without Redis still serves every chat, on its own state. Unhealthy would have
        // the AppHost hold back the frontend (WaitFor) and show a working replica as failed.
        builder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            foreach (var registration in options.Registrations.Where(r => r.Name == RedisHealthCheckName))
            {
                registration.FailureStatus = HealthStatus.Degraded;
            }
        });

        return builder;
    }
}
