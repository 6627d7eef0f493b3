namespace AspireRetry.Bench.Strategies;

/// <summary>
/// One way of calling OpenAI with retries, as a user's code would call it: one chat call per <see cref="ChatAsync"/>,
/// one embeddings call per <see cref="EmbedAsync"/>.
/// </summary>
public interface IStrategy : IAsyncDisposable
{
    /// <summary>Asks for one reply. Null when one came back; otherwise why not (the call's final error).</summary>
    Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken);

    /// <summary>
    /// Asks for the embeddings of <paramref name="inputs"/> (model <see cref="OpenAISdk.EmbeddingModel"/>), as the
    /// strategy's users ask for them. Null when a vector came back for every input; otherwise why not.
    /// </summary>
    Task<string?> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken);
}

/// <summary>
/// A strategy under test: how the report names it, and how to build a fresh one (fresh breaker state) per scenario,
/// given the scenario's upstreams in priority order (one, except in the failover scenario, where each strategy is set
/// up for two as its users would set it up; the scenario's Setup text says how).
/// </summary>
public sealed record StrategyKind(string Id, string Name, string Description, Func<IReadOnlyList<Uri>, TimeScale, Task<IStrategy>> CreateAsync)
{
    public const string AspireRetryId = "aspireretry";

    public static IReadOnlyList<StrategyKind> All { get; } =
    [
        new("naive", "Naive loop",
            "catch every error, sleep 1, 2, 4, 8 s, 5 attempts, no Retry-After, no jitter (the SDK's own retries off)",
            (endpoints, scale) => Task.FromResult<IStrategy>(NaiveLoop.Create(endpoints, scale))),
        new("sdk", "OpenAI SDK default",
            "the SDK's ClientRetryPolicy: 3 retries after 0.8, 1.6, 3.2 s (no jitter), honours `Retry-After` but not `retry-after-ms`, " +
            "retries every 429 whatever its code; no resilience handler",
            (endpoints, scale) => Task.FromResult<IStrategy>(SdkDefault.Create(endpoints, scale))),
        new("standard", "Standard handler",
            "AddStandardResilienceHandler() defaults: 3 retries from 2 s, exponential with jitter, honours `Retry-After` but not " +
            "`retry-after-ms`, 10 s attempt and 30 s total timeouts, circuit breaker; SDK retries off",
            (endpoints, scale) => Task.FromResult<IStrategy>(StandardHandler.Create(endpoints, scale))),
        new(AspireRetryId, "AspireRetry",
            AspireRetryPolicy.Description,
            async (endpoints, scale) => await AspireRetryPolicy.CreateAsync(endpoints, scale, recordAttempts: true)),
    ];
}
