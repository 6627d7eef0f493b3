using AspireRetry.OpenAI.Resilience.SharedState;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The retry layer with an <see cref="IUpstreamSharedState"/>, on a fake clock and a scripted store: the shared answer
/// decides; a store that fails or does not answer leaves the decision to the replica, warns once, and is asked again
/// (and rejoined) after the retry interval. Against a real Redis: ChatApi.Tests' SharedStateTests.
/// </summary>
public sealed class SharedStateTests : IDisposable
{
    private static readonly SharedStateKey Key = new("openai", "http://upstream/v1", "gpt-4o");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ScriptedStore _store = new();
    private readonly LogRecorder _log = new();
    private int _sent;

    private SharedStateLink Link() => new(_store, new SharedStateOptions(), _time, _log);

    private ResiliencePipeline<HttpResponseMessage> Pipeline(SharedStateLink link)
    {
        var rateLimit = new RateLimitOptions { ProbeFirst = false };
        var limits = new UpstreamLimits(new RateLimitGate("test gpt-4o", rateLimit, _time), new RetryBudget(rateLimit.RetryBudget, _time));
        var options = new ResilienceOptions { TotalTimeout = TimeSpan.FromSeconds(10), MaxServerDelay = TimeSpan.FromSeconds(5) };
        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RateLimitGateStrategy(context.Telemetry, limits, options, _time, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>()), "gpt-4o", link, Key),
                new RateLimitGateStrategyOptions())
            .Build();
    }

    private ValueTask<HttpResponseMessage> Send(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return ValueTask.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
    }

    [Fact]
    public async Task A_wait_the_shared_gate_names_beyond_the_calls_budget_fails_the_call_at_once_and_the_span_says_shared()
    {
        // Another replica met a 429 with a 7 s wait; this replica's own gate has seen nothing.
        _store.Reservation = new SharedGateReservation(Known: true, Rejected: true, Wait: TimeSpan.FromSeconds(7), Generation: 1, Closed: true);
        using var span = new Activity("chat gpt-4o").Start();

        var error = await Assert.ThrowsAsync<RateLimitGateRejectedException>(() => Pipeline(Link()).ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(7, error.Wait.TotalSeconds, 3);
        Assert.Equal(0, _sent);
        var rejected = Assert.Single(span.Events, e => e.Name == RetryTelemetryConstants.Events.GateRejected);
        Assert.Equal("shared", rejected.Tags.First(t => t.Key == RetryTelemetryConstants.Tags.StateSource).Value);
    }

    [Fact]
    public async Task A_store_that_fails_leaves_the_call_to_the_replicas_own_gate_warns_once_and_is_rejoined_after_the_retry_interval()
    {
        _store.Fail = true;
        var link = Link();
        var pipeline = Pipeline(link);

        // Decided on the replica's own (open) gate: the call goes, however often the store fails.
        using (await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken)) { }
        using (await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken)) { }
        Assert.Equal(2, _sent);
        Assert.Single(_log.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("Shared state unavailable", StringComparison.Ordinal));
        var asked = _store.Asked;
        Assert.True(asked >= 1);

        // Left alone for the retry interval: a dead Redis costs no call anything.
        using (await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken)) { }
        Assert.Equal(asked, _store.Asked);

        // Back: asked again after the interval, and its answer decides.
        _store.Fail = false;
        _time.Advance(new SharedStateOptions().RetryInterval);
        _store.Reservation = new SharedGateReservation(Known: true, Rejected: true, Wait: TimeSpan.FromSeconds(7), Generation: 1, Closed: true);
        await Assert.ThrowsAsync<RateLimitGateRejectedException>(() => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());
        Assert.Single(_log.Messages, m => m.Level == LogLevel.Information && m.Text.Contains("answers again", StringComparison.Ordinal));
        Assert.Single(_log.Messages, m => m.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task A_store_that_does_not_answer_within_the_timeout_is_treated_as_failed()
    {
        _store.Hang = true;
        var link = new SharedStateLink(_store, new SharedStateOptions { Timeout = TimeSpan.FromMilliseconds(50) }, TimeProvider.System, _log);

        var started = Stopwatch.StartNew();
        var (ok, _) = await link.TryAsync((store, ct) => store.ReadRecoveryAsync(Key, ct), TestContext.Current.CancellationToken);

        Assert.False(ok);
        // Bounded by the timeout, not by the store: 5 s only guards a machine so loaded that something else is wrong.
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(40), TimeSpan.FromSeconds(5));
        Assert.Contains(_log.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("no answer within 0.05 s", StringComparison.Ordinal));
    }

    private ResiliencePipeline<HttpResponseMessage> RecoveryPipeline(SharedStateLink link, RecoveryGate gate, ResilienceOptions options) =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddStrategy(context => new RecoveryGateStrategy(context.Telemetry, gate, options, _time, "gpt-4o", "openai", link, Key), new RecoveryGateStrategyOptions())
            .Build();

    [Fact]
    public async Task Another_replicas_down_verdict_stops_this_replicas_call_before_it_sends_and_its_up_lets_it_go()
    {
        // This replica has seen nothing wrong; the shared state says the upstream is down, the next check in 2 s.
        var options = new ResilienceOptions { CircuitBreaker = { MaxRecoveryWait = TimeSpan.FromSeconds(1) } };
        var gate = new RecoveryGate(options.CircuitBreaker, _time);
        _store.Recovery = new SharedRecoveryState(Down: true, NextCheckIn: TimeSpan.FromSeconds(2));
        var pipeline = RecoveryPipeline(Link(), gate, options);

        // The call cannot wait 2 s (MaxRecoveryWait 1 s): it fails at once, with the shared wait, and sends nothing.
        var error = await Assert.ThrowsAsync<UpstreamDownException>(() => pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(0, _sent);
        Assert.Equal(RecoveryState.Down, gate.State);
        Assert.InRange(error.RetryAfter!.Value.TotalSeconds, 1.9, 2);

        // Another replica's check found it up: the next call goes.
        _store.Recovery = new SharedRecoveryState(Down: false, NextCheckIn: TimeSpan.Zero);
        using (await pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken)) { }
        Assert.Equal(1, _sent);
        Assert.Equal(RecoveryState.Up, gate.State);
    }

    [Fact]
    public async Task When_another_replica_holds_the_check_this_one_does_not_send_it()
    {
        // Down here and on the shared clock, the check due now: but another replica holds it.
        var options = new ResilienceOptions { CircuitBreaker = { MaxRecoveryWait = TimeSpan.FromSeconds(30) } };
        var gate = new RecoveryGate(options.CircuitBreaker, _time);
        gate.AdoptDown(TimeSpan.Zero);
        _store.Recovery = new SharedRecoveryState(Down: true, NextCheckIn: TimeSpan.Zero);
        _store.Take = new SharedCheckDecision(SharedCheckKind.Wait, TimeSpan.FromSeconds(5));
        var pipeline = RecoveryPipeline(Link(), gate, options);

        var call = pipeline.ExecuteAsync(Send, TestContext.Current.CancellationToken).AsTask();

        // It asks again every 100 ms and sends nothing while the other replica checks.
        for (var i = 0; i < 5; i++)
        {
            _time.Advance(RecoveryGateStrategy.SharedCheckPoll);
            await Task.Yield();
        }

        Assert.Equal(0, _sent);
        Assert.False(call.IsCompleted);

        // The other replica's check succeeded: this call goes, as an ordinary call.
        _store.Recovery = new SharedRecoveryState(Down: false, NextCheckIn: TimeSpan.Zero);
        for (var polls = 0; polls < 100 && !call.IsCompleted; polls++)
        {
            // The call's next poll may be scheduled after an advance: advance until it has asked (bounded).
            _time.Advance(RecoveryGateStrategy.SharedCheckPoll);
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(1, _sent);
        Assert.Equal(RecoveryState.Up, gate.State);
    }

    public void Dispose() => _services.Dispose();

    /// <summary>A store whose answers the test sets; it fails (throws) or hangs on request.</summary>
    private sealed class ScriptedStore : IUpstreamSharedState
    {
        private int _asked;

        public bool Fail { get; set; }

        public bool Hang { get; set; }

        public int Asked => Volatile.Read(ref _asked);

        public SharedGateReservation Reservation { get; set; }

        public SharedRecoveryState Recovery { get; set; } = new(false, TimeSpan.Zero);

        public SharedCheckDecision Take { get; set; } = new(SharedCheckKind.Check, TimeSpan.Zero);

        private async ValueTask<T> Answer<T>(T value)
        {
            Interlocked.Increment(ref _asked);
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, CancellationToken.None);
            }

            return Fail ? throw new InvalidOperationException("No connection is active/available to service this operation") : value;
        }

        public ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, CancellationToken cancellationToken) => Answer(Reservation);

        public ValueTask<bool> IsCurrentAsync(SharedStateKey key, long generation, CancellationToken cancellationToken) => Answer(true);

        public ValueTask<TimeSpan?> ObserveAsync(SharedStateKey key, SharedRateLimitObservation observation, CancellationToken cancellationToken) => Answer<TimeSpan?>(null);

        public async ValueTask RecordRequestAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken) => await Answer(true);

        public ValueTask<SharedBudgetDecision> TryRetryAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken) =>
            Answer(new SharedBudgetDecision(true, 1, 1, 10));

        public ValueTask<SharedRecoveryState> ReadRecoveryAsync(SharedStateKey key, CancellationToken cancellationToken) => Answer(Recovery);

        public async ValueTask ReportDownAsync(SharedStateKey key, TimeSpan nextCheckIn, CancellationToken cancellationToken) => await Answer(true);

        public ValueTask<SharedCheckDecision> TryTakeCheckAsync(SharedStateKey key, TimeSpan lease, CancellationToken cancellationToken) => Answer(Take);

        public async ValueTask ReportUpAsync(SharedStateKey key, CancellationToken cancellationToken) => await Answer(true);
    }

    private sealed class LogRecorder : ILogger<SharedStateLink>
    {
        private readonly List<(LogLevel Level, string Text)> _messages = [];

        public IReadOnlyList<(LogLevel Level, string Text)> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_messages)
            {
                _messages.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
