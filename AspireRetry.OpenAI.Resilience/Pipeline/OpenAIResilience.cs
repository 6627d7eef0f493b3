using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The one retry layer: the resilience pipeline of the "openai" HttpClient, built on
/// Microsoft.Extensions.Http.Resilience. Outer to inner: total timeout, retry, the wait for recovery, circuit breaker, the
/// shared rate-limit gate (when <c>RateLimit:Enabled</c>), attempt timeout, then
/// <see cref="AttemptHandler"/> once per attempt.
/// </summary>
public static class OpenAIResilience
{
    /// <summary>
    /// Added to every server-dictated wait: timers may fire a millisecond early and clocks round, and
    /// arriving 10 ms late costs nothing where arriving 1 ms early costs another 429.
    /// </summary>
    public static readonly TimeSpan ServerDelayMargin = TimeSpan.FromMilliseconds(10);

    /// <summary>Adds the pipeline and the attempt handler to an HttpClient; <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> calls it.</summary>
    internal static IHttpClientBuilder AddOpenAIResilience(this IHttpClientBuilder builder)
    {
        AddSharedServices(builder.Services);
        builder.AddResilienceHandler(PipelineName, static (pipeline, context) =>
        {
            var services = context.ServiceProvider;
            var options = services.GetRequiredService<IOptions<ResilienceOptions>>().Value;
            var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
            var call = PipelineState.For(services, context.InstanceName, context.BuilderName, options);
            var breaker = new CircuitBreakerStateProvider();
            Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = call.Budget is { } budget
                ? ctx => budget.TrySpendAsync(ctx, breaker.CircuitState.ToString())
                : null;

            pipeline.AddTimeout(PipelineTimeouts.Total(options, time));
            if (options.MaxRetryAttempts > 0)
            {
                // Polly's retry takes at least one retry: "no retries" is no retry strategy.
                pipeline.AddRetry(RetryStrategy.Options(options, time, trySpendRetry));
            }

            pipeline
                // Outside the breaker: a call that meets it open waits there for the upstream to recover.
                .AddStrategy(
                    strategy => new RecoveryGateStrategy(strategy.Telemetry, call.Recovery, options, time, call.Model, call.Upstream, call.Link, call.Key),
                    new RecoveryGateStrategyOptions())
                .AddCircuitBreaker(BreakerStrategy.Options(options, breaker, call.Recovery));
            if (call.Limits is { } limits)
            {
                // Inside the breaker (an open breaker fails fast without queueing at the gate) and outside
                // the attempt timeout (a wait at the gate is not the upstream being slow).
                var telemetry = services.GetRequiredService<RateLimitTelemetry>();
                pipeline.AddStrategy(
                    strategy => new RateLimitGateStrategy(strategy.Telemetry, limits, options, time, telemetry, call.Model, call.Link, call.Key, call.Budget),
                    new RateLimitGateStrategyOptions());
            }

            pipeline.AddTimeout(PipelineTimeouts.Attempt(options, time));
        })
        // One pipeline, so one breaker, per upstream and model: an overloaded gpt-4o must not block gpt-4o-mini,
        // which is what the fallback model is for, and a down primary must not block the secondary.
        .SelectPipelineBy(_ => _ => PipelineKey(CallRoute.Current));

        return builder.AddHttpMessageHandler(services => new AttemptHandler());
    }

    /// <summary>What the strategies need, so the policy works wherever it is added.</summary>
    private static void AddSharedServices(IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<UpstreamStateRegistry>();
        services.TryAddSingleton(provider => new SharedStateLink(
            provider.GetService<IUpstreamSharedState>(),
            provider.GetRequiredService<IOptions<ResilienceOptions>>().Value.SharedState,
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetService<ILogger<SharedStateLink>>()));
        services.TryAddSingleton<RateLimitTelemetry>();
    }

    /// <summary>The pipeline instance of a call: <c>{upstream}/{model}</c> (a model name may itself contain '/'; an upstream's name does not).</summary>
    internal static string PipelineKey(CallRoute? call) => $"{call?.Upstream?.Name}/{call?.Model}";

    internal static (string Upstream, string Model) SplitPipelineKey(string key) =>
        key.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? (key[..slash], key[(slash + 1)..]) : ("", key);
}
