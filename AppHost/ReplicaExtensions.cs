using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// ChatApi as several replicas that share their rate limits, retry budget and breaker through Redis
/// (<c>ChatApi:Replicas</c>); one replica, the default, keeps its state in process and needs no Redis.
/// </summary>
internal static class ReplicaExtensions
{
    /// <summary>Key of the number of ChatApi replicas.</summary>
    public const string ReplicasKey = "ChatApi:Replicas";

    /// <summary>
    /// Key of the switch for sharing (true by default): false runs the replicas without Redis, each on its own state, to
    /// measure what sharing buys.
    /// </summary>
    public const string SharedStateKey = "ChatApi:SharedState";

    /// <summary>The Redis resource's name, and so the connection string ChatApi reads (<c>ConnectionStrings:redis</c>).</summary>
    public const string RedisName = "redis";

    // Each replica is a process on the developer's machine; more than this is a typo, not a demo of sharing.
    private const int MaxReplicas = 10;

    // "docker info" answers in well under a second when the engine runs and fails at once when it does not;
    // a hung CLI (a stopped VM behind it) must not hold up the AppHost's start for longer than this.
    private static readonly TimeSpan ContainerRuntimeProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// With <c>ChatApi:Replicas</c> above 1: that many replicas, and a Redis they share, as a container when a container
    /// runtime answers, else <c>redis-server</c> from the PATH. With 1 (the default: one process is the usual app) nothing changes.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithSharedStateReplicas(this IResourceBuilder<ProjectResource> chatapi)
    {
        var builder = chatapi.ApplicationBuilder;
        var replicas = ReplicaCount(builder.Configuration);
        if (replicas == 1)
        {
            return chatapi;
        }

        if (!SharingOn(builder.Configuration))
        {
            return chatapi.WithReplicas(replicas);
        }

        // No WaitFor: a replica that starts before Redis answers keeps its state in process and joins the others when
        // Redis is up, the same rule as for a Redis that goes away later (Redis trouble never fails a chat).
        return chatapi.WithReplicas(replicas).WithReference(builder.AddSharedStateRedis());
    }

    private static IResourceBuilder<IResourceWithConnectionString> AddSharedStateRedis(this IDistributedApplicationBuilder builder)
    {
        if (ContainerRuntimeAnswers(builder.Configuration))
        {
            return builder.AddRedis(RedisName);
        }

        if (!OnPath("redis-server"))
        {
            throw new InvalidOperationException(
                $"{ReplicasKey} above 1 needs Redis for the state the replicas share: install redis-server " +
                "(apt-get install redis-server) or start a container runtime (Docker or Podman); neither was found.");
        }

        var redis = builder.AddResource(new RedisServerResource(RedisName, builder.AppHostDirectory));
        var endpoint = redis.Resource.PrimaryEndpoint;
        // Not proxied: ChatApi connects to redis-server itself, on the port DCP allocates. Behind DCP's proxy a killed
        // redis-server looked hung, not gone (the proxy accepted connections and never answered, even after a new
        // redis-server listened on the same port); direct, a kill is refused at once and a restart is rejoined (measured:
        // /health Degraded within 50 ms, Healthy again 2 s after redis-server was back).
        // No snapshot or append-only file, so nothing is written next to the AppHost and every run starts empty (the
        // shared state is soft: rate-limit hints, a budget window, a breaker verdict). Loopback only: it has no password.
        return redis
            .WithEndpoint(name: RedisServerResource.EndpointName, scheme: "tcp", isProxied: false)
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--save");
                context.Args.Add("");
                context.Args.Add("--appendonly");
                context.Args.Add("no");
            });
    }

    private static bool SharingOn(IConfiguration configuration) =>
        configuration[SharedStateKey] is not { } text ? true
        : bool.TryParse(text, out var on) ? on
        : throw new InvalidOperationException($"{SharedStateKey} must be true or false (whether ChatApi replicas share state through Redis); it is '{text}'.");

    private static int ReplicaCount(IConfiguration configuration)
    {
        var text = configuration[ReplicasKey];
        if (text is null)
        {
            return 1;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > MaxReplicas)
        {
            throw new InvalidOperationException($"{ReplicasKey} must be a whole number from 1 to {MaxReplicas} (ChatApi processes; above 1 they share state through Redis); it is '{text}'.");
        }

        return count;
    }

    /// <summary>
    /// Whether the container runtime Aspire would use answers: a CLI on the PATH alone is not enough (a machine can have
    /// the docker CLI with no engine behind it, and then Aspire's Redis container never starts).
    /// </summary>
    private static bool ContainerRuntimeAnswers(IConfiguration configuration)
    {
        // Aspire's own setting for the runtime it drives; without it, Docker then Podman.
        string[] runtimes = configuration["ASPIRE_CONTAINER_RUNTIME"] is { Length: > 0 } configured ? [configured] : ["docker", "podman"];
        return runtimes.Any(runtime => OnPath(runtime) && Answers(runtime));
    }

    private static bool Answers(string runtime)
    {
        var start = new ProcessStartInfo(runtime, "info")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return false;
            }

            // Drained, not read: a full pipe would block the CLI and look like a runtime that does not answer.
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(ContainerRuntimeProbeTimeout))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            return false; // not executable after all
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, program)) || File.Exists(Path.Combine(directory, program + ".exe")));
}

/// <summary>
/// <c>redis-server</c> from the PATH as an executable resource, for machines with no container runtime. Its connection
/// string is <c>host:port</c>, what StackExchange.Redis reads, so ChatApi connects to it as to Aspire's Redis container.
/// </summary>
internal sealed class RedisServerResource(string name, string workingDirectory)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}");
}
