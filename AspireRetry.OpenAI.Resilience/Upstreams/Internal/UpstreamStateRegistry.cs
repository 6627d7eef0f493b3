using System.Collections.Concurrent;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>What every call to one upstream and model shares for its rate limits: the gate and the retry budget.</summary>
internal sealed record UpstreamLimits(RateLimitGate Gate, RetryBudget Budget);

/// <summary>
/// What every call to one upstream and model shares: its rate limits and the wait for its recovery (the breaker's
/// verdict). Each upstream of the list has its own, so a down primary leaves the secondary's untouched, and the
/// failover reads them to know whether an upstream can serve.
/// </summary>
internal sealed record UpstreamState(UpstreamLimits Limits, RecoveryGate Recovery);

/// <summary>
/// One <see cref="UpstreamState"/> per upstream and model, for the life of the app (it outlives pipeline
/// rebuilds): OpenAI limits per organisation (key) and model, and each upstream has its own key.
/// </summary>
internal sealed class UpstreamStateRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Upstream, string Model), UpstreamState> _state = new();

    /// <param name="upstream">The upstream's name (its connection string's).</param>
    /// <param name="gateName">How the gate names itself in telemetry: the upstream's endpoint.</param>
    /// <param name="model">The model.</param>
    /// <param name="options">The options at the first call; later changes do not rebuild shared state.</param>
    public UpstreamState For(string upstream, string gateName, string model, ResilienceOptions options) =>
        _state.GetOrAdd((upstream, model), _ => new UpstreamState(
            new UpstreamLimits(new RateLimitGate(gateName, options.RateLimit, time, options.RateLimit.LimitsFor(upstream, model)), new RetryBudget(options.RateLimit.RetryBudget, time)),
            new RecoveryGate(options.CircuitBreaker, time)));

    /// <summary>The shared state of an upstream and model when a call has met it already; null before that.</summary>
    public UpstreamState? Find(string upstream, string model) => _state.GetValueOrDefault((upstream, model));
}
