using System.Net;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.CircuitBreaker;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// Waiting for a down upstream, on a fake clock: the recovery strategy in front of the library's own breaker
/// options, with an upstream that is down or up as the test says.
/// </summary>
public sealed class RecoveryGateTests
{
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(8);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));
    private readonly ResilienceOptions _options = new()
    {
        CircuitBreaker = { BreakDuration = Longest, MinimumThroughput = 2, FailureRatio = 0.5 },
    };

    private readonly List<string> _pollyEvents = [];
    private volatile bool _down = true;
    private int _sent;

    private ResiliencePipeline<HttpResponseMessage> Pipeline(string? upstream = null)
    {
        // No jitter here, so the schedule is exact: 2 s, 4 s, 8 s, 8 s...
        var gate = new RecoveryGate(_options.CircuitBreaker, _time, jitter: () => 0);
        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RecoveryGateStrategy(context.Telemetry, gate, _options, _time, "gpt-4o", upstream), new RecoveryGateStrategyOptions())
            .AddCircuitBreaker(BreakerStrategy.Options(_options, new CircuitBreakerStateProvider(), gate))
            .ConfigureTelemetry(new TelemetryOptions { TelemetryListeners = { new Recorder(_pollyEvents) } })
            .Build();
    }

    private ValueTask<HttpResponseMessage> Send(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return ValueTask.FromResult(new HttpResponseMessage(_down ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK));
    }

    private int Sent => Volatile.Read(ref _sent);

    private int Reported(string name)
    {
        lock (_pollyEvents)
        {
            return _pollyEvents.Count(e => e == name);
        }
    }

    /// <summary>Two failures open the breaker (MinimumThroughput 2); the upstream has then seen two requests.</summary>
    private static async Task OpenAsync(ResiliencePipeline<HttpResponseMessage> pipeline, Func<CancellationToken, ValueTask<HttpResponseMessage>> send)
    {
        for (var i = 0; i < 2; i++)
        {
            using var failed = await pipeline.ExecuteAsync(send, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        }
    }

    [Theory]
    [InlineData(0, 0.0, 2000)]
    [InlineData(1, 0.0, 4000)]
    [InlineData(2, 0.0, 8000)]
    [InlineData(7, 0.0, 8000)]
    [InlineData(0, 1.0, 1600)]
    [InlineData(3, 0.5, 7200)]
    public void Checks_come_at_a_growing_interval_up_to_the_break_duration(int failedChecks, double jitter, double expectedMs) =>
        Assert.Equal(expectedMs, RecoveryGate.Interval(failedChecks, Longest, jitter).TotalMilliseconds, precision: 6);

    [Fact]
    public async Task Calls_that_meet_a_down_upstream_wait_one_check_per_interval_and_all_go_when_a_check_succeeds()
    {
        var pipeline = Pipeline();
        await OpenAsync(pipeline, Send);

        var calls = Enumerable.Range(0, 5).Select(_ => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask()).ToList();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 5, "every call waits");
        Assert.Equal(2, Sent);

        // 2 s: one check, which fails; the next is 4 s later. Nothing else reaches the upstream.
        _time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(2, Sent);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => Sent == 3, "the first check");
        _time.Advance(TimeSpan.FromMilliseconds(3999));
        Assert.Equal(3, Sent);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => Sent == 4, "the second check, 4 s after the first");
        Assert.All(calls, c => Assert.False(c.IsCompleted));

        // Back up: the third check (8 s later, the longest interval) succeeds and releases every waiting call at once.
        _down = false;
        _time.Advance(TimeSpan.FromSeconds(8));
        var responses = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(4 + 5, Sent); // the checks, then one request per call (the successful check was one of them)
        Assert.Equal(0, Reported(PollyEvents.RecoveryRejected));
    }

    [Fact]
    public async Task Failures_in_a_row_take_the_upstream_down_however_many_calls_succeeded_before()
    {
        // The shipped MinimumThroughput (20): its ratio would need 100 failures after 100 successes; 5 in a row are enough.
        _options.CircuitBreaker.MinimumThroughput = new CircuitBreakerOptions().MinimumThroughput;
        var pipeline = Pipeline();
        _down = false;
        for (var i = 0; i < 100; i++)
        {
            using var ok = await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken);
        }

        // Four failures, a success between, four more: flaky, not down.
        _down = true;
        for (var i = 0; i < 9; i++)
        {
            _down = i != 4;
            using var response = await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, Reported(PollyEvents.RecoveryWait));
        using var fifth = await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, fifth.StatusCode);

        var waiting = pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) == 1, "the next call waits");
        Assert.Equal(110, Sent);
        _down = false;
        _time.Advance(TimeSpan.FromSeconds(2));
        using var recovered = await waiting.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }

    [Fact]
    public async Task A_check_that_outlives_the_refusals_lets_the_waiting_calls_go_before_it_ends()
    {
        var pipeline = Pipeline();
        var refusal = TimeSpan.FromMilliseconds(20);
        var check = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var upButSlow = false;
        async ValueTask<HttpResponseMessage> Upstream(CancellationToken cancellationToken)
        {
            var n = Interlocked.Increment(ref _sent);
            if (!upButSlow)
            {
                _time.Advance(refusal); // a down upstream refuses in 20 ms
                return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
            }

            // Back up: the first request (the check) takes as long as the test says; the calls let go answer at once.
            return n == 3 ? await check.Task : new HttpResponseMessage(HttpStatusCode.OK);
        }

        await OpenAsync(pipeline, Upstream);
        var calls = Enumerable.Range(0, 3).Select(_ => pipeline.ExecuteAsync(Upstream, TestContext.Current.CancellationToken).AsTask()).ToList();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 3, "every call waits");

        upButSlow = true;
        _time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => Sent == 3, "the check");

        // Three times the slowest refusal (60 ms) without an answer: the check is being worked on.
        _time.Advance(TimeSpan.FromMilliseconds(59));
        Assert.Equal(3, Sent);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => calls.Count(c => c.IsCompletedSuccessfully) == 2, "the two other calls go and are answered");
        Assert.All(calls.Where(c => c.IsCompleted), c => Assert.Equal(HttpStatusCode.OK, c.Result.StatusCode)); // the half-open breaker let them through
        Assert.Equal(5, Sent);

        check.SetResult(new HttpResponseMessage(HttpStatusCode.OK));
        var responses = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(5, Sent);
    }

    [Fact]
    public async Task When_a_call_let_go_early_fails_the_others_wait_for_the_check_after_all()
    {
        // Two failures in a row take the upstream down, while the breaker (8 attempts) stays closed and cannot be the
        // one that stops the calls let go early.
        _options.CircuitBreaker.MinimumThroughput = 8;
        var pipeline = Pipeline();
        var check = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<HttpResponseMessage> Upstream(CancellationToken cancellationToken)
        {
            // Still down: refusals take 20 ms, but the check (the third request) hangs as long as the test says.
            if (Interlocked.Increment(ref _sent) == 3)
            {
                return await check.Task;
            }

            _time.Advance(TimeSpan.FromMilliseconds(20));
            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        }

        await OpenAsync(pipeline, Upstream);
        var first = pipeline.ExecuteAsync(Upstream, TestContext.Current.CancellationToken).AsTask();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 1, "the first call waits");
        _time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => Sent == 3, "the check");
        var others = Enumerable.Range(0, 3).Select(_ => pipeline.ExecuteAsync(Upstream, TestContext.Current.CancellationToken).AsTask()).ToList();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 4, "the other calls wait for the check");

        // The check outlives three refusals: the waiting calls go, and the first of them is refused: still down.
        _time.Advance(TimeSpan.FromMilliseconds(60));
        await Poll.UntilAsync(() => others.Any(c => c.IsCompleted), "a call let go early is refused");
        using var refused = await others.First(c => c.IsCompleted);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var sent = Sent;

        // A call that comes now (a retry, say) waits for the check: the sign of life has been refuted.
        var later = pipeline.ExecuteAsync(Upstream, TestContext.Current.CancellationToken).AsTask();
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 5, "the later call waits");
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(sent, Sent);
        Assert.False(later.IsCompleted);

        check.SetResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
        Assert.False(first.IsCompleted);
    }

    [Fact]
    public async Task A_refusal_to_wait_for_a_down_upstream_names_the_upstream_on_the_span()
    {
        _options.CircuitBreaker.MaxRecoveryWait = TimeSpan.FromMilliseconds(500);
        var pipeline = Pipeline(upstream: "openai-2");
        await OpenAsync(pipeline, Send);

        // An Activity of our own, not from an ActivitySource: no listener needed, so no other test's can interfere.
        using var span = new System.Diagnostics.Activity("chat gpt-4o").Start();
        await Assert.ThrowsAsync<UpstreamDownException>(() => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());

        var refused = Assert.Single(span.Events, e => e.Name == Events.RecoveryRejected);
        Assert.Contains(refused.Tags, t => t.Key == Tags.Upstream && (string?)t.Value == "openai-2");
    }

    [Fact]
    public async Task Each_wait_is_one_span_event_however_many_checks_and_passes_it_rides()
    {
        var pipeline = Pipeline(upstream: "openai");
        await OpenAsync(pipeline, Send);

        // Three calls on one span (an Activity of our own: no listener to race with other tests'), two failed checks, then up.
        Task<HttpResponseMessage>[] calls;
        using var span = new System.Diagnostics.Activity("chat gpt-4o").Start();
        calls = [.. Enumerable.Range(0, 3).Select(_ => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask())];
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 3, "every call waits");
        _time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => Sent == 3, "the first check");

        // The clock moves on only once the refused check's call waits again: moved while it is still on its way back, the
        // second check would be due when it returns, and it would go at once, after no wait (one event fewer).
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 4, "the first check's call waits again");
        _time.Advance(TimeSpan.FromSeconds(4));
        await Poll.UntilAsync(() => Sent == 4, "the second check");
        await Poll.UntilAsync(() => Reported(PollyEvents.RecoveryWait) >= 5, "the second check's call waits again");
        _down = false;
        _time.Advance(TimeSpan.FromSeconds(8));
        foreach (var response in await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken))
        {
            response.Dispose();
        }

        // Five requests went after a wait (three checks, the two other calls): each came after exactly one wait, one event
        // each, stamped with its start, however often the waiting calls woke meanwhile. All three began at the same instant.
        Assert.Equal(7, Sent);
        var waits = span.Events.Where(e => e.Name == Events.RecoveryWait).ToList();
        Assert.Equal(5, waits.Count);
        Assert.Equal(3, waits.Count(e => e.Timestamp == waits.Min(w => w.Timestamp)));
        Assert.All(waits, e =>
        {
            var tags = e.Tags.ToDictionary(t => t.Key, t => t.Value);
            Assert.Equal("openai", tags[Tags.Upstream]);
            Assert.InRange((long)tags[Tags.RecoveryWaitedMs]!, 0, 14_000);
            Assert.InRange((int)tags[Tags.RecoveryChecks]!, 0, 2);
        });
        Assert.Equal(14_000, waits.Max(e => (long)e.Tags.First(t => t.Key == Tags.RecoveryWaitedMs).Value!)); // a call that rode both failed checks
    }

    [Fact]
    public async Task A_call_whose_budget_cannot_cover_the_next_check_fails_at_once_with_the_wait()
    {
        _options.CircuitBreaker.MaxRecoveryWait = TimeSpan.FromMilliseconds(500);
        var pipeline = Pipeline();
        await OpenAsync(pipeline, Send);

        var refused = await Assert.ThrowsAsync<UpstreamDownException>(() => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(TimeSpan.FromSeconds(2), refused.RetryAfter);
        Assert.Contains("MaxRecoveryWait", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2, Sent);
        Assert.Equal(1, Reported(PollyEvents.RecoveryRejected));
    }

    [Fact]
    public async Task A_waiting_call_hears_the_next_check_and_stop_ends_the_wait_with_nothing_sent()
    {
        var pipeline = Pipeline();
        await OpenAsync(pipeline, Send);
        var heard = new List<AttemptReport>();
        var progress = new CallProgress("gpt-4o", r => { lock (heard) heard.Add(r); });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        Task<HttpResponseMessage> call;
        using (progress.Enter())
        {
            call = pipeline.ExecuteAsync(Send, stop.Token).AsTask();
        }

        await Poll.UntilAsync(() => { lock (heard) { return heard.Count == 1; } }, "the wait is announced");
        Assert.Equal(new AttemptReport(1, Outcomes.RecoveryWait, null, Outcomes.RecoveryWaitReason, TimeSpan.FromSeconds(2)), heard[0]);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, Sent);
    }

    private sealed class Recorder(List<string> events) : TelemetryListener
    {
        public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
        {
            if (args.Source.StrategyName == Strategies.RecoveryGate)
            {
                lock (events)
                {
                    events.Add(args.Event.EventName);
                }
            }
        }
    }
}
