using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// Where a replica keeps its gate, retry budget and recovery state: the scenarios run once on each. What a decision's
/// span event says in <c>aspireretry.state_source</c> tells which of them decided it.
/// </summary>
public abstract class StateStore
{
    /// <summary>No <c>IUpstreamSharedState</c> registered: each replica decides on its own state, in process (C#).</summary>
    public static StateStore InProcess { get; } = new InProcessStore();

    /// <summary>The Redis package on a real redis-server: every decision is one of its Lua scripts.</summary>
    public static StateStore Redis(RedisServerFixture server) => new RedisStore(server);

    /// <summary>The <see cref="RetryTelemetryConstants.Tags.StateSource"/> of a decision made on this store.</summary>
    public abstract string Source { get; }

    /// <summary>Registers the store on a replica, as an app does before <c>AddResilientOpenAI</c>.</summary>
    public abstract void Register(IHostApplicationBuilder builder);

    public override string ToString() => GetType().Name;

    private sealed class InProcessStore : StateStore
    {
        public override string Source => "local";

        public override void Register(IHostApplicationBuilder builder)
        {
        }
    }

    private sealed class RedisStore(RedisServerFixture server) : StateStore
    {
        public override string Source => "shared";

        public override void Register(IHostApplicationBuilder builder)
        {
            // As the package's README has it: the replica's own connection, which keeps trying while Redis is away (the
            // warm-up at start waits for it), and the store on top of it.
            builder.Services.AddSingleton<IConnectionMultiplexer>(_ =>
            {
                var options = ConfigurationOptions.Parse(server.ConnectionString);
                options.AbortOnConnectFail = false;
                return ConnectionMultiplexer.Connect(options);
            });
            builder.Services.AddRedisUpstreamSharedState();
        }
    }
}
