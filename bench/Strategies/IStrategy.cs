namespace AspireRetry.Bench.Strategies;

/// <summary>One way of calling OpenAI with retries, as a user's code would call it: one chat call per <see cref="ChatAsync"/>.</summary>
public interface IStrategy : IAsyncDisposable
{
    /// <summary>Asks for one reply. Null when one came back; otherwise why not (the call's final error).</summary>
    Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken);
}

/// <summary>A strategy under test: how the report names it, and how to build a fresh one (fresh breaker state) per scenario.</summary>
public sealed record StrategyKind(string Id, string Name, string Description, Func<Uri, TimeScale, Task<IStrategy>> CreateAsync)
{
    public const string AspireRetryId = "aspireretry";

    public static IReadOnlyList<StrategyKind> All { get; } =
    [
        new("naive", "Naive loop",
            "catch every error, sleep 1, 2, 4, 8 s, 5 attempts, no Retry-After, no jitter (the SDK's own retries off)",
            (endpoint, scale) => Task.FromResult<IStrategy>(NaiveLoop.Create(endpoint, scale))),
        new("sdk", "OpenAI SDK default",
            "the SDK's ClientRetryPolicy: 3 retries after 0.8, 1.6, 3.2 s (no jitter), honours `Retry-After` but not `retry-after-ms`, " +
            "retries every 429 whatever its code; no resilience handler",
            (endpoint, scale) => Task.FromResult<IStrategy>(SdkDefault.Create(endpoint, scale))),
        new("standard", "Standard handler",
            "AddStandardResilienceHandler() defaults: 3 retries from 2 s, exponential with jitter, honours `Retry-After` but not " +
            "`retry-after-ms`, 10 s attempt and 30 s total timeouts, circuit breaker; SDK retries off",
            (endpoint, scale) => Task.FromResult<IStrategy>(StandardHandler.Create(endpoint, scale))),
        new(AspireRetryId, "AspireRetry",
            AspireRetryPolicy.Description,
            async (endpoint, scale) => await AspireRetryPolicy.CreateAsync(endpoint, scale, recordAttempts: true)),
    ];
}
