using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.CircuitBreaker;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// On a fake clock that never moves unless told: while a later upstream can take the call, one upstream's pipeline
/// moves on at once instead of retrying, waiting for its recovery or waiting at its gate. A wait would hang the test
/// (the clock does not move), so each test can fail.
/// </summary>
public sealed class FailoverDecisionTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));
    private readonly ResilienceOptions _options = new()
    {
        CircuitBreaker = { BreakDuration = TimeSpan.FromSeconds(8), MinimumThroughput = 2, FailureRatio = 0.5 },
    };

    private int _sent;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CallRoute Call(bool canFailOver) =>
        new("gpt-4o") { Upstream = new UpstreamRoute("openai", () => canFailOver) };

    private ValueTask<HttpResponseMessage> Down(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return ValueTask.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
    }

    private ResiliencePipeline<HttpResponseMessage> RecoveryPipeline()
    {
        var gate = new RecoveryGate(_options.CircuitBreaker, _time, jitter: () => 0);
        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RecoveryGateStrategy(context.Telemetry, gate, _options, _time, "gpt-4o"), new RecoveryGateStrategyOptions())
            .AddCircuitBreaker(BreakerStrategy.Options(_options, new CircuitBreakerStateProvider(), gate))
            .Build();
    }

    private async Task TakeDownAsync(ResiliencePipeline<HttpResponseMessage> pipeline)
    {
        for (var i = 0; i < 2; i++)
        {
            using var failed = await pipeline.ExecuteAsync(Down, Ct);
        }
    }

    [Fact]
    public async Task With_a_healthy_later_upstream_a_call_that_meets_a_down_upstream_moves_on_at_once_with_nothing_sent()
    {
        var pipeline = RecoveryPipeline();
        await TakeDownAsync(pipeline);

        using (Call(canFailOver: true).Enter())
        {
            await Assert.ThrowsAsync<UpstreamDownException>(() => pipeline.ExecuteAsync(Down, Ct).AsTask());
        }

        Assert.Equal(2, Volatile.Read(ref _sent));
    }

    [Fact]
    public async Task With_a_healthy_later_upstream_a_call_goes_as_the_due_check_and_moves_on_when_it_fails()
    {
        var pipeline = RecoveryPipeline();
        await TakeDownAsync(pipeline);
        _time.Advance(TimeSpan.FromSeconds(2)); // the first check: a quarter of BreakDuration

        using (Call(canFailOver: true).Enter())
        {
            await Assert.ThrowsAsync<UpstreamDownException>(() => pipeline.ExecuteAsync(Down, Ct).AsTask());
        }

        Assert.Equal(3, Volatile.Read(ref _sent));
    }

    [Fact]
    public async Task With_no_later_upstream_that_can_serve_a_call_waits_for_the_next_check_as_a_single_upstream_does()
    {
        var pipeline = RecoveryPipeline();
        await TakeDownAsync(pipeline);

        Task<HttpResponseMessage> waiting;
        using (Call(canFailOver: false).Enter())
        {
            waiting = pipeline.ExecuteAsync(Down, Ct).AsTask();
        }

        // The clock has not moved, so the call is still waiting for the check 2 s away.
        await Task.Yield();
        Assert.False(waiting.IsCompleted);
        Assert.Equal(2, Volatile.Read(ref _sent));
        _time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => Volatile.Read(ref _sent) == 3, "the waiting call goes as the check");
    }

    [Fact]
    public async Task With_a_healthy_later_upstream_a_closed_gate_is_refused_at_once_with_nothing_sent()
    {
        var limits = new UpstreamLimits(new RateLimitGate("test gpt-4o", new RateLimitOptions { ProbeFirst = false }, _time), new RetryBudget(new RetryBudgetOptions(), _time));
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RateLimitGateStrategy(context.Telemetry, limits, _options, _time, new RateLimitTelemetry(services.GetRequiredService<IMeterFactory>()), "gpt-4o"),
                new RateLimitGateStrategyOptions())
            .Build();
        limits.Gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromSeconds(2));

        using (Call(canFailOver: true).Enter())
        {
            await Assert.ThrowsAsync<RateLimitGateRejectedException>(() => pipeline.ExecuteAsync(Down, Ct).AsTask());
        }

        Assert.Equal(0, Volatile.Read(ref _sent));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task A_transient_failure_is_retried_only_when_no_later_upstream_can_take_the_call(bool canFailOver, bool retried)
    {
        var context = ResilienceContextPool.Shared.Get(Ct);
        using var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);

        using (Call(canFailOver).Enter())
        {
            Assert.Equal(retried, await RetryPredicate.ShouldRetryAsync(Outcome.FromResult(response), context, _options, _time));
        }

        ResilienceContextPool.Shared.Return(context);
    }

}
