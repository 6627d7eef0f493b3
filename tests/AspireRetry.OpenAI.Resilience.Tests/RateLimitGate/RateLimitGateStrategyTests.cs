using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The gate as a Polly strategy, on a fake clock: what a waiting call hears, sees and can do.</summary>
public sealed class RateLimitGateStrategyTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ResilienceOptions _options = new() { TotalTimeout = TimeSpan.FromSeconds(10), MaxServerDelay = TimeSpan.FromSeconds(5) };
    private readonly UpstreamLimits _limits;
    private readonly PollyEventRecorder _polly = new();
    private int _sent;

    public RateLimitGateStrategyTests()
    {
        var rateLimit = new RateLimitOptions { ProbeFirst = false };
        _limits = new UpstreamLimits(new RateLimitGate("test gpt-4o", rateLimit, _time), new RetryBudget(rateLimit.RetryBudget, _time));
    }

    private RateLimitGateStrategy? _strategy;

    private ResiliencePipeline<HttpResponseMessage> Pipeline() =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => _strategy = new RateLimitGateStrategy(context.Telemetry, _limits, _options, _time, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>()), "gpt-4o"),
                new RateLimitGateStrategyOptions())
            .ConfigureTelemetry(new TelemetryOptions { TelemetryListeners = { _polly } })
            .Build();

    /// <summary>What reaches Polly's telemetry (which meters it as resilience.polly.strategy.events): strategy and event names.</summary>
    private sealed class PollyEventRecorder : TelemetryListener
    {
        private readonly List<(string? Strategy, string Event)> _events = [];

        public IReadOnlyList<(string? Strategy, string Event)> Events
        {
            get
            {
                lock (_events)
                {
                    return [.. _events];
                }
            }
        }

        public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
        {
            lock (_events)
            {
                _events.Add((args.Source.StrategyName, args.Event.EventName));
            }
        }
    }

    private ValueTask<HttpResponseMessage> Send(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return ValueTask.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
    }

    [Theory]
    [InlineData(50, false)] // fewer than the attempt held: its tokens did not fit
    [InlineData(50_000, true)] // plenty left: the counts do not explain it
    public async Task A_429_closes_the_gate_unless_its_token_count_says_the_attempts_own_tokens_did_not_fit(long remainingTokens, bool closes)
    {
        // 60,000 tokens a minute configured, so the attempt's tokens are counted and held (about 120 with the margin).
        var rateLimit = new RateLimitOptions { ProbeFirst = false, InitialWindow = 0 };
        var limits = new UpstreamLimits(
            new RateLimitGate("test gpt-4o", rateLimit, _time, new ModelRateLimits { TokensPerMinute = 60_000 }), new RetryBudget(rateLimit.RetryBudget, _time));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RateLimitGateStrategy(context.Telemetry, limits, _options, _time, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>()), "gpt-4o"),
                new RateLimitGateStrategyOptions())
            .Build();
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://upstream/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"Hello there"}]}""", System.Text.Encoding.UTF8, "application/json"),
        };
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        context.SetRequestMessage(request);

        using var refused = await pipeline.ExecuteAsync(static (ResilienceContext _, long remaining) =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            response.Headers.Add("retry-after-ms", "1000");
            response.Headers.Add("x-ratelimit-limit-requests", "1000");
            response.Headers.Add("x-ratelimit-remaining-requests", "999");
            response.Headers.Add("x-ratelimit-reset-requests", "60ms");
            response.Headers.Add("x-ratelimit-limit-tokens", "60000");
            response.Headers.Add("x-ratelimit-remaining-tokens", remaining.ToString(System.Globalization.CultureInfo.InvariantCulture));
            response.Headers.Add("x-ratelimit-reset-tokens", "10s");
            return ValueTask.FromResult(response);
        }, context, remainingTokens);
        ResilienceContextPool.Shared.Return(context);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(closes, limits.Gate.Describe().StartsWith("closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_call_at_a_closed_gate_announces_the_wait_records_it_and_goes_when_it_opens()
    {
        _limits.Gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(790));
        var announced = new List<AttemptReport>();
        var waits = new List<(double Seconds, string? Reason)>();
        using var meter = new MeterListener();
        var meters = _services.GetRequiredService<IMeterFactory>();
        meter.InstrumentPublished = (instrument, listener) =>
        {
            // Listeners are process-wide: only this test's meter, not the other test apps' gates.
            if (instrument.Name == Metrics.GateWaitDuration && instrument.Meter.Scope == meters)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meter.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            lock (waits)
            {
                waits.Add((value, tags.ToArray().FirstOrDefault(t => t.Key == Tags.GateReason).Value as string));
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

        await Poll.UntilAsync(() => { lock (announced) { return announced.Count == 1; } }, "the wait is announced");
        Assert.Equal(new AttemptReport(1, "rate_limit_wait", null, "waiting for rate limit", TimeSpan.FromMilliseconds(800)), announced[0]);
        Assert.Contains((Strategies.RateLimitGate, PollyEvents.GateWait), _polly.Events);
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

        await Poll.UntilAsync(() => Volatile.Read(ref waiting), "the condition");
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

        var error = await Assert.ThrowsAsync<RateLimitGateRejectedException>(
            () => Pipeline().ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(7010, error.Wait.TotalMilliseconds, 3);
        Assert.Contains("MaxServerDelay", error.Message, StringComparison.Ordinal);
        Assert.Contains(span.Events, e => e.Name == "rate_limit.gate_rejected");
        Assert.Contains((Strategies.RateLimitGate, PollyEvents.GateRejected), _polly.Events);
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
        Assert.Contains((Strategies.RateLimitGate, PollyEvents.GateClosed), _polly.Events);
        var next = _limits.Gate.Reserve(TimeSpan.FromMinutes(1));
        Assert.Equal(GateDecisionKind.Wait, next.Kind);
        Assert.Equal(310, next.Wait.TotalMilliseconds, 3);
    }

    [Fact]
    public async Task Without_published_limits_a_call_beyond_the_slow_start_window_waits_for_an_answer_then_goes()
    {
        var answers = Enumerable.Range(0, 3).Select(_ => new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var started = 0;
        ValueTask<HttpResponseMessage> Hold(CancellationToken cancellationToken) => new(answers[Interlocked.Increment(ref started) - 1].Task);
        var pipeline = Pipeline();

        // Each call reaches the gate before ExecuteAsync returns: the window (2) lets two through, the third waits.
        var calls = Enumerable.Range(0, 3).Select(_ => pipeline.ExecuteAsync(Hold, TestContext.Current.CancellationToken).AsTask()).ToArray();
        Assert.Equal(2, Volatile.Read(ref started));
        Assert.DoesNotContain((Strategies.RateLimitGate, PollyEvents.GateWait), _polly.Events);

        answers[0].SetResult(new HttpResponseMessage(HttpStatusCode.OK)); // no x-ratelimit-* headers
        await Poll.UntilAsync(() => Volatile.Read(ref started) == 3, "the condition");
        Assert.Contains((Strategies.RateLimitGate, PollyEvents.GateWait), _polly.Events);

        answers[1].SetResult(new HttpResponseMessage(HttpStatusCode.OK));
        answers[2].SetResult(new HttpResponseMessage(HttpStatusCode.OK));
        foreach (var response in await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken))
        {
            response.Dispose();
        }
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

        // Goes at once (in the slow-start window: no limits are published, and this 429 is not a rate limit).
        Assert.Equal(GateDecisionKind.GoInWindow, _limits.Gate.Reserve(TimeSpan.FromMinutes(1)).Kind);
    }

    [Fact]
    public async Task A_spent_retry_budget_refuses_the_retry_says_why_and_reaches_pollys_telemetry()
    {
        _ = Pipeline();
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        using var span = new Activity("chat gpt-4o").Start(); // no ActivityListener needed, as above
        string? refused = null;
        var spent = 0;

        // 10 retries a second over a 10 s window are always allowed: the 101st in the window is refused.
        while (refused is null && spent <= 101)
        {
            refused = await _strategy!.Budget.TrySpendAsync(context, "Closed");
            spent++;
        }

        Assert.Equal(101, spent);
        Assert.Contains("retry budget is spent", refused, StringComparison.Ordinal);
        Assert.Contains(span.Events, e => e.Name == Events.BudgetExhausted);
        Assert.Contains((Strategies.RateLimitGate, PollyEvents.BudgetExhausted), _polly.Events);
        ResilienceContextPool.Shared.Return(context);
    }

    public void Dispose()
    {
        _services.Dispose();
    }
}
