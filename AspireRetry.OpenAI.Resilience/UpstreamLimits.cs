using System.Collections.Concurrent;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>What every call to one upstream and model shares: the rate-limit gate and the retry budget.</summary>
internal sealed record UpstreamLimits(RateLimitGate Gate, RetryBudget Budget);

/// <summary>
/// One <see cref="UpstreamLimits"/> per upstream and model, for the life of the app: OpenAI limits
/// per organisation (key) and model, and ChatApi has one key per upstream.
/// </summary>
internal sealed class UpstreamLimitsRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, UpstreamLimits> _limits = new(StringComparer.Ordinal);

    public UpstreamLimits For(string upstream, string model, RateLimitOptions options) =>
        _limits.GetOrAdd($"{upstream} {model}", name => new UpstreamLimits(new RateLimitGate(name, options, time), new RetryBudget(options.RetryBudget, time)));
}
