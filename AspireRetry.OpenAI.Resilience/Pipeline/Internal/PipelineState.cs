using Microsoft.Extensions.DependencyInjection;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// What one pipeline instance (one upstream and model) is built over: the state every call to that upstream and model
/// shares (the registry outlives pipeline rebuilds; each upstream has its own), the link to the replicas' shared state
/// and the key it is kept under.
/// </summary>
/// <param name="Model">The model.</param>
/// <param name="Upstream">The upstream's name, when the app registered a list of them.</param>
/// <param name="Recovery">The wait for the upstream's recovery.</param>
/// <param name="Limits">The rate-limit gate and retry budget; null when <c>RateLimit:Enabled</c> is off.</param>
/// <param name="Budget">The retry budget as the retry strategy asks it; null when <c>RateLimit:Enabled</c> is off.</param>
/// <param name="Link">The way to the replicas' shared state.</param>
/// <param name="Key">The upstream and model in the shared state.</param>
internal sealed record PipelineState(
    string Model, string? Upstream, RecoveryGate Recovery, UpstreamLimits? Limits, RetryBudgetGuard? Budget, SharedStateLink Link, SharedStateKey Key)
{
    /// <param name="services">The app's services.</param>
    /// <param name="instanceName">The pipeline's instance: <c>{upstream}/{model}</c>.</param>
    /// <param name="builderName">The HttpClient's name: the gate's name when no upstream list is registered.</param>
    /// <param name="options">The layer's options.</param>
    public static PipelineState For(IServiceProvider services, string instanceName, string builderName, ResilienceOptions options)
    {
        var (upstreamName, model) = OpenAIResilience.SplitPipelineKey(instanceName);
        var upstreams = services.GetService<OpenAIUpstreams>();
        var upstream = upstreams?.Find(upstreamName) ?? upstreams?.All[0];
        var gateName = upstream?.Connection.Endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') ?? builderName;
        var state = services.GetRequiredService<UpstreamStateRegistry>().For(upstream?.Name ?? upstreamName, gateName, model, options);
        var link = services.GetRequiredService<SharedStateLink>();
        var key = new SharedStateKey(upstream?.Name ?? upstreamName, gateName, model);
        var limits = options.RateLimit.Enabled ? state.Limits : null;
        var budget = limits is null ? null : new RetryBudgetGuard(limits.Budget, limits.Gate, options, link, key);
        return new PipelineState(model, upstream?.Name, state.Recovery, limits, budget, link, key);
    }
}
