using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.OpenAI.RateLimit;

/// <summary>What every call to one upstream and model shares: the rate-limit gate and the retry budget.</summary>
public sealed record UpstreamLimits(RateLimitGate Gate, RetryBudget Budget);

/// <summary>
/// One <see cref="UpstreamLimits"/> per upstream and model, for the life of the app: OpenAI limits
/// per organisation (key) and model, and ChatApi has one key per upstream.
/// </summary>
public sealed class UpstreamLimitsRegistry(OpenAIConnection connection, IOptions<OpenAIOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, UpstreamLimits> _limits = new(StringComparer.Ordinal);

    public UpstreamLimits For(string model)
    {
        var rateLimit = options.Value.Resilience.RateLimit;
        var name = $"{connection.Endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/')} {model}";
        return _limits.GetOrAdd(name, n => new UpstreamLimits(new RateLimitGate(n, rateLimit, time), new RetryBudget(rateLimit.RetryBudget, time)));
    }
}
