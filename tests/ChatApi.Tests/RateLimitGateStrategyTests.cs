using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using AspireRetry.ChatApi.OpenAI;
using AspireRetry.ChatApi.OpenAI.RateLimit;
using AspireRetry.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace AspireRetry.ChatApi.Tests;

/// <summary>The gate as a Polly strategy, on a fake clock: what a waiting call hears, sees and can do.</summary>
public sealed class RateLimitGateStrategyTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ResilienceOptions _options = new() { TotalTimeout = TimeSpan.FromSeconds(10), MaxServerDelay = TimeSpan.FromSeconds(5) };
    private readonly UpstreamLimits _limits;
    private int _sent;

    public RateLimitGateStrategyTests()
    {
        var rateLimit = new RateLimitOptions { ProbeFirst = false };
        _limits = new UpstreamLimits(new RateLimitGate("test gpt-4o", rateLimit, _time), new RetryBudget(rateLimit.RetryBudget, _time));
    }

    private ResiliencePipeline<HttpResponseMessage> Pipeline() =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(_ => new RateLimitGateStrategy(_limits, _options, _time, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>()), "gpt-4o"),
                new RateLimitGateStrategyOptions())
            .Build();

    private ValueTask<HttpResponseMessage> Send(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return ValueTask.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
    }

    private static async Task Until(Func<bool> condition)
    {
        // Bounded poll for the pipeline to reach its wait; the fake clock does not move on its own.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition was not met within 5 s");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_call_at_a_closed_gate_announces_the_wait_records_it_and_goes_when_it_opens()
    {
        _limits.Gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(790));
        var announced = new List<AttemptEvent>();
        var waits = new List<(double Seconds, string? Reason)>();
        using var meter = new MeterListener();
        var meters = _services.GetRequiredService<IMeterFactory>();
        meter.InstrumentPublished = (instrument, listener) =>
        {
            // Listeners are process-wide: only this test's meter, not the other test apps' gates.
            if (instrument.Name == RateLimitTelemetry.GateWaitMetric && instrument.Meter.Scope == meters)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meter.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            lock (waits)
            {
                waits.Add((value, tags.ToArray().FirstOrDefault(t => t.Key == RateLimitTelemetry.Reason).Value as string));
            }
        });
        meter.Start();

        using var span = new Activity("chat gpt-4o").Start(); // no ActivityListener needed: one raced with the parallel tests' listeners and got null
        var progress = new CallProgress("gpt-4o", e => { lock (announced) announced.Add(e); });
        Task<HttpResponseMessage> call;
        using (progress.Enter())
        {
            call = Pipeline().ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask();
        }

        await Until(() => { lock (announced) return announced.Count == 1; });
        Assert.Equal(new AttemptEvent(1, "rate_limit_wait", null, "waiting for rate limit", 800), announced[0]);
        var waitEvent = Assert.Single(span.Events, e => e.Name == "rate_limit.gate_wait");
        Assert.Equal(800L, waitEvent.Tags.First(t => t.Key == "rate_limit.wait_ms").Value);
        Assert.Equal("closed", waitEvent.Tags.First(t => t.Key == "rate_limit.reason").Value);
        Assert.Equal(0, _sent);

        _time.Advance(TimeSpan.FromMilliseconds(799));
        Assert.False(call.IsCompleted);
        Assert.Equal(0, _sent);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        using var response = await call.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(1, _sent);
        lock (waits)
        {
            var (seconds, reason) = Assert.Single(waits);
            Assert.Equal(0.8, seconds, 3);
            Assert.Equal("closed", reason);
        }
    }

    [Fact]
    public async Task Cancelling_a_call_waiting_at_the_gate_ends_it_and_sends_nothing()
    {
        _limits.Gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromSeconds(2));
        using var cancel = new CancellationTokenSource();
        var waiting = false;
        var progress = new CallProgress("gpt-4o", _ => waiting = true);
        Task<HttpResponseMessage> call;
        using (progress.Enter())
        {
            call = Pipeline().ExecuteAsync(Send, cancel.Token).AsTask();
        }

        await Until(() => Volatile.Read(ref waiting));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(0, _sent);
    }

    [Fact]
    public async Task A_wait_beyond_the_calls_budget_fails_at_once_with_the_wait_and_sends_nothing()
    {
        _limits.Gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromSeconds(7));
        using var span = new Activity("chat gpt-4o").Start(); // no ActivityListener needed: one raced with the parallel tests' listeners and got null

        var error = await Assert.ThrowsAsync<RateLimitRejectedException>(
            () => Pipeline().ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(7010, error.Wait.TotalMilliseconds, 3);
        Assert.Contains("MaxServerDelay", error.Message, StringComparison.Ordinal);
        Assert.Contains(span.Events, e => e.Name == "rate_limit.gate_rejected");
        Assert.Equal(0, _sent);
    }

    [Fact]
    public async Task A_429_rate_limit_exceeded_closes_the_gate_for_the_next_call_and_says_so_on_the_span()
    {
        using var span = new Activity("chat gpt-4o").Start(); // no ActivityListener needed: one raced with the parallel tests' listeners and got null
        var limited = new HttpResponseMessage(HttpStatusCode.TooManyRequests)
        {
            Content = new StringContent("""{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"""),
        };
        limited.Headers.Add("retry-after-ms", "300");

        using var first = await Pipeline().ExecuteAsync(_ => ValueTask.FromResult(limited), TestContext.Current.CancellationToken);

        var closed = Assert.Single(span.Events, e => e.Name == "rate_limit.gate_closed");
        Assert.Equal(310L, closed.Tags.First(t => t.Key == "rate_limit.closed_ms").Value);
        var next = _limits.Gate.Reserve(TimeSpan.FromMinutes(1));
        Assert.Equal(GateDecisionKind.Wait, next.Kind);
        Assert.Equal(310, next.Wait.TotalMilliseconds, 3);
    }

    [Fact]
    public async Task A_429_for_exhausted_quota_closes_nothing()
    {
        var quota = new HttpResponseMessage(HttpStatusCode.TooManyRequests)
        {
            Content = new StringContent("""{"error":{"message":"no money","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"""),
        };
        quota.Headers.Add("retry-after-ms", "300");

        using var first = await Pipeline().ExecuteAsync(_ => ValueTask.FromResult(quota), TestContext.Current.CancellationToken);

        Assert.Equal(GateDecisionKind.Go, _limits.Gate.Reserve(TimeSpan.FromMinutes(1)).Kind);
    }

    public void Dispose()
    {
        _services.Dispose();
    }
}
