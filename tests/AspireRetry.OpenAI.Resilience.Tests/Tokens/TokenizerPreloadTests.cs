using System.Diagnostics.Metrics;
using System.Net;
using AspireRetry.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Polly;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// A model's tokenizer takes a few hundred milliseconds to load (o200k's vocabulary about 0.3 s). It loads in the
/// background as soon as the gate knows the model's token bucket, so the first requests that need counting do not wait
/// for it, with every call behind them, while the bucket fills up unused.
/// </summary>
public sealed class TokenizerPreloadTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public void Dispose() => _services.Dispose();

    private ResiliencePipeline<HttpResponseMessage> Pipeline(UpstreamLimits limits, string model) =>
        new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddStrategy(context => new RateLimitGateStrategy(context.Telemetry, limits, new ResilienceOptions(), TimeProvider.System,
                new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>()), model), new RateLimitGateStrategyOptions())
            .Build();

    private static UpstreamLimits Limits(ModelRateLimits? configured = null)
    {
        var options = new RateLimitOptions { ProbeFirst = false };
        return new UpstreamLimits(new RateLimitGate("test", options, TimeProvider.System, configured), new RetryBudget(options.RetryBudget, TimeProvider.System));
    }

    [Fact]
    public async Task The_first_response_that_publishes_the_token_bucket_starts_loading_the_models_tokenizer()
    {
        // A model name no other test counts with: its tokenizer (o200k, by the gpt-4o prefix) is not loaded for it yet.
        var model = $"gpt-4o-preload-{Guid.NewGuid():N}";
        var pipeline = Pipeline(Limits(), model);

        // A response without token headers: the gate knows no token bucket, so nothing will be counted, and nothing loads.
        using (await pipeline.ExecuteAsync(_ => ValueTask.FromResult(new HttpResponseMessage(HttpStatusCode.OK)), TestContext.Current.CancellationToken))
        {
        }

        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.False(TokenCounter.IsLoaded(model));

        // One that publishes it: from now on every attempt is counted, so the tokenizer loads, before any request needs it.
        using (await pipeline.ExecuteAsync(_ => ValueTask.FromResult(WithTokenHeaders()), TestContext.Current.CancellationToken))
        {
        }

        await Poll.UntilAsync(() => TokenCounter.IsLoaded(model), "the tokenizer loaded without a request to count");
    }

    [Fact]
    public async Task A_configured_token_limit_starts_loading_the_models_tokenizer_with_the_pipeline()
    {
        var model = $"gpt-4o-preload-{Guid.NewGuid():N}";

        _ = Pipeline(Limits(new ModelRateLimits { TokensPerMinute = 30_000 }), model);

        await Poll.UntilAsync(() => TokenCounter.IsLoaded(model), "the tokenizer loaded before the first call");
    }

    [Fact]
    public void A_model_without_a_known_encoding_loads_nothing()
    {
        var model = $"my-deployment-{Guid.NewGuid():N}";

        TokenCounter.Preload(model);

        Assert.False(TokenCounter.IsLoaded(model));
    }

    private static HttpResponseMessage WithTokenHeaders()
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK);
        response.Headers.Add("x-ratelimit-limit-tokens", "30000");
        response.Headers.Add("x-ratelimit-remaining-tokens", "29000");
        response.Headers.Add("x-ratelimit-reset-tokens", "2s");
        return response;
    }
}
