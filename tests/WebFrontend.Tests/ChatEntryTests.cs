using AspireRetry.WebFrontend.Components.Pages;

namespace AspireRetry.WebFrontend.Tests;

/// <summary>How ChatApi's stream events fold into the reply a person sees: text, status line, attempts, footer.</summary>
public sealed class ChatEntryTests
{
    private static ChatEntry Pending() => new("assistant") { InProgress = true, Model = "gpt-4o", Status = "Sending…" };

    private static ChatEntry After(params ChatStreamEvent[] events)
    {
        var reply = Pending();
        foreach (var e in events)
        {
            reply.Apply(e);
        }

        return reply;
    }

    [Fact]
    public void Start_links_the_trace_and_says_the_model_is_being_waited_for()
    {
        var reply = After(new StartEvent("trace-1", "gpt-4o", MaxAttempts: 4));

        Assert.Equal("trace-1", reply.TraceId);
        Assert.Equal(4, reply.MaxAttempts);
        Assert.Equal("Waiting for the model…", reply.Status);
        Assert.True(reply.InProgress);
    }

    [Fact]
    public void A_failed_attempt_with_a_wait_counts_the_attempt_and_starts_the_countdown_to_the_next()
    {
        var before = DateTimeOffset.UtcNow;
        var reply = After(new StartEvent("t", "gpt-4o", 4), new AttemptEvent(1, "http_error", 429, null, DelayMs: 1200));
        var after = DateTimeOffset.UtcNow;

        Assert.Equal(1, reply.Attempts);
        Assert.Equal(2, reply.NextAttempt);
        Assert.Equal(1200, reply.WaitedMs);
        Assert.Equal("Rate limited (429)", reply.Status);
        Assert.InRange(reply.RetryAt!.Value, before.AddMilliseconds(1200), after.AddMilliseconds(1200));
        Assert.False(reply.WaitingForGate);
        Assert.False(reply.WaitingForRecovery);
    }

    [Theory]
    [InlineData(429, null, "Rate limited (429)")]
    [InlineData(500, null, "Server error (500)")]
    [InlineData(502, null, "Bad gateway (502)")]
    [InlineData(503, null, "Service unavailable (503)")]
    [InlineData(504, null, "Gateway timeout (504)")]
    [InlineData(408, null, "Request timeout (408)")]
    [InlineData(418, null, "HTTP 418")]
    [InlineData(null, "connection reset", "connection reset")]
    [InlineData(null, null, "timeout")]
    public void The_status_line_names_what_went_wrong(int? statusCode, string? reason, string expected)
    {
        var reply = After(new AttemptEvent(1, "timeout", statusCode, reason, DelayMs: 10));

        Assert.Equal(expected, reply.Status);
    }

    [Fact]
    public void The_last_attempt_counts_but_leaves_the_status_and_waits_alone()
    {
        var reply = After(new StartEvent("t", "gpt-4o", 2), new AttemptEvent(2, "http_error", 503, null, DelayMs: null));

        Assert.Equal(2, reply.Attempts);
        Assert.Equal("Waiting for the model…", reply.Status);
        Assert.Equal(0, reply.WaitedMs);
        Assert.Null(reply.RetryAt);
        Assert.Equal(0, reply.NextAttempt);
    }

    [Fact]
    public void Attempt_events_never_lower_the_count()
    {
        var reply = After(new AttemptEvent(3, "http_error", 500, null, 10), new AttemptEvent(2, "http_error", 500, null, 10));

        Assert.Equal(3, reply.Attempts);
        Assert.Equal(20, reply.WaitedMs);
    }

    [Fact]
    public void A_wait_at_the_rate_limit_gate_is_time_waited_but_not_an_attempt()
    {
        var before = DateTimeOffset.UtcNow;
        var reply = After(new AttemptEvent(1, AttemptEvent.RateLimitWait, null, null, DelayMs: 800));

        Assert.Equal(0, reply.Attempts);
        Assert.Equal(800, reply.WaitedMs);
        Assert.True(reply.WaitingForGate);
        Assert.False(reply.WaitingForRecovery);
        Assert.Equal("Waiting for the rate limit to reset", reply.Status);
        Assert.True(reply.RetryAt >= before.AddMilliseconds(800));
    }

    [Fact]
    public void A_wait_for_a_down_upstream_is_time_waited_but_not_an_attempt()
    {
        var reply = After(
            new AttemptEvent(1, AttemptEvent.RateLimitWait, null, null, 300),
            new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, DelayMs: null));

        Assert.Equal(0, reply.Attempts);
        Assert.Equal(300, reply.WaitedMs); // a check under way has no delay: nothing more is waited
        Assert.False(reply.WaitingForGate);
        Assert.True(reply.WaitingForRecovery);
        Assert.Equal("Upstream is down - waiting for it to recover", reply.Status);
    }

    [Fact]
    public void An_ordinary_attempt_ends_a_gate_or_recovery_wait()
    {
        var gate = After(new AttemptEvent(1, AttemptEvent.RateLimitWait, null, null, 100), new AttemptEvent(1, "http_error", 503, null, 50));
        var recovery = After(new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, 100), new AttemptEvent(1, "http_error", 503, null, 50));

        Assert.False(gate.WaitingForGate);
        Assert.False(recovery.WaitingForRecovery);
        Assert.Equal("Service unavailable (503)", recovery.Status);
        Assert.Equal(150, recovery.WaitedMs);
    }

    [Fact]
    public void A_failed_recovery_check_ends_the_countdown_so_nothing_reads_retrying_now_and_no_attempt_limit_is_claimed()
    {
        // The check (attempt 1) fails; the next recovery wait follows. In between the status had read "... retrying now (attempt 0 of 5)".
        var reply = After(
            new StartEvent("t", "gpt-4o", MaxAttempts: 5),
            new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, 300),
            new AttemptEvent(1, "http_error", 503, null, DelayMs: null));

        Assert.Null(reply.RetryAt);
        Assert.False(reply.WaitingForRecovery);
        Assert.True(reply.RodeRecovery);
        Assert.Equal(1, reply.Attempts);
    }

    [Fact]
    public void The_countdown_counts_the_next_attempt_of_the_limit_and_drops_of_N_once_recovery_checks_count()
    {
        var retrying = After(new StartEvent("t", "gpt-4o", 5), new AttemptEvent(1, "http_error", 429, null, DelayMs: 1200));
        var rodeRecovery = After(
            new StartEvent("t", "gpt-4o", 5),
            new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, 300),
            new AttemptEvent(1, "http_error", 503, null, DelayMs: null),
            new AttemptEvent(2, "http_error", 503, null, DelayMs: 500));

        Assert.Equal(" - retrying in 1.2 s (attempt 2 of 5)", retrying.Countdown(retrying.RetryAt!.Value.AddMilliseconds(-1200)));
        Assert.Equal(" - retrying now (attempt 2 of 5)", retrying.Countdown(retrying.RetryAt.Value.AddSeconds(1)));
        Assert.Equal(" - retrying in 0.5 s (attempt 3)", rodeRecovery.Countdown(rodeRecovery.RetryAt!.Value.AddMilliseconds(-500)));
        Assert.Equal("", Pending().Countdown(DateTimeOffset.UtcNow));
    }

    [Fact]
    public void The_countdown_of_a_recovery_wait_is_the_next_check_and_at_the_gate_the_time_left()
    {
        var recovery = After(new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, DelayMs: 700));
        var gate = After(new AttemptEvent(1, AttemptEvent.RateLimitWait, null, null, DelayMs: 800));

        Assert.Equal(" (next check in 0.7 s)", recovery.Countdown(recovery.RetryAt!.Value.AddMilliseconds(-700)));
        Assert.Equal(" (checking now)", recovery.Countdown(recovery.RetryAt.Value));
        Assert.Equal(": 0.8 s", gate.Countdown(gate.RetryAt!.Value.AddMilliseconds(-800)));
        Assert.Equal(": 0.0 s", gate.Countdown(gate.RetryAt.Value.AddSeconds(1)));
    }

    [Fact]
    public void A_failover_says_which_upstream_is_tried_next_and_why_and_waits_for_nothing()
    {
        var failed = After(new AttemptEvent(1, "http_error", 503, "503", DelayMs: 0, FailoverTo: "openai-2", FailoverFrom: "openai"));
        var skipped = After(new AttemptEvent(0, AttemptEvent.Failover, null, "upstream down (circuit breaker open)", 0, "openai-2", "openai"));

        Assert.Equal("Trying openai-2 (openai: 503)", failed.Status);
        Assert.Equal(1, failed.Attempts);
        Assert.Null(failed.RetryAt);
        Assert.Equal(0, failed.WaitedMs);
        Assert.Equal("Trying openai-2 (openai: upstream down (circuit breaker open))", skipped.Status);
        Assert.Equal(0, skipped.Attempts);
    }

    [Fact]
    public void Deltas_append_text_and_clear_the_status_line_and_countdown()
    {
        var reply = After(
            new AttemptEvent(1, AttemptEvent.RecoveryWait, null, null, 100),
            new DeltaEvent("Hel"),
            new DeltaEvent("lo"));

        Assert.Equal("Hello", reply.Text);
        Assert.Null(reply.Status);
        Assert.Null(reply.RetryAt);
        Assert.False(reply.WaitingForRecovery);
        Assert.True(reply.InProgress);
        Assert.False(reply.IsComplete);
    }

    [Fact]
    public void Done_fills_the_footer_and_finishes_the_reply()
    {
        var usage = new UsageDto(12, 34);
        var reply = After(
            new StartEvent("trace-1", "gpt-4o", 4),
            new AttemptEvent(1, "http_error", 429, null, 200),
            new DeltaEvent("Hi"),
            new DoneEvent(Attempts: 2, "gpt-4o-mini", usage, TraceId: null, Upstream: "openai-2"));

        Assert.False(reply.InProgress);
        Assert.True(reply.IsComplete);
        Assert.Equal(2, reply.Attempts);
        Assert.Equal("gpt-4o-mini", reply.Model);
        Assert.Equal("openai-2", reply.Upstream);
        Assert.Equal(usage, reply.Usage);
        Assert.Equal("trace-1", reply.TraceId); // done without a trace id keeps the one start gave
        Assert.Equal(200, reply.WaitedMs);
        Assert.NotNull(reply.Latency);
        Assert.Null(reply.Status);
        Assert.Null(reply.RetryAt);
        Assert.Null(reply.Error);
    }

    [Fact]
    public void Done_takes_its_own_trace_id_and_attempt_count()
    {
        var reply = After(new StartEvent("trace-1", "gpt-4o", 4), new AttemptEvent(3, "http_error", 500, null, 10), new DoneEvent(1, "gpt-4o", null, "trace-2"));

        Assert.Equal("trace-2", reply.TraceId);
        Assert.Equal(1, reply.Attempts);
    }

    [Fact]
    public void An_error_finishes_the_reply_as_failed_keeping_the_text_and_the_highest_attempt()
    {
        var error = new ErrorEvent(503, "Upstream unavailable", "Gave up after 2 attempts.", RetryAfterMs: 5000, Attempts: 2, TraceId: null);
        var reply = After(
            new StartEvent("trace-1", "gpt-4o", 4),
            new AttemptEvent(3, "http_error", 503, null, 100),
            new DeltaEvent("Part"),
            error);

        Assert.Same(error, reply.Error);
        Assert.Equal(3, reply.Attempts);
        Assert.Equal("trace-1", reply.TraceId);
        Assert.Equal("Part", reply.Text);
        Assert.False(reply.InProgress);
        Assert.False(reply.IsComplete);
        Assert.Null(reply.Status);
        Assert.NotNull(reply.Latency);
    }

    [Fact]
    public void An_event_the_page_does_not_know_changes_nothing()
    {
        var reply = After(new StartEvent("trace-1", "gpt-4o", 4), new FutureEvent());

        Assert.Equal("Waiting for the model…", reply.Status);
        Assert.True(reply.InProgress);
        Assert.Equal("", reply.Text);
    }

    [Fact]
    public void Apply_leaves_rendering_to_the_caller()
    {
        var reply = Pending();
        var renders = 0;
        reply.Changed += () => renders++;

        reply.Apply(new DeltaEvent("Hi"));

        Assert.Equal(0, renders);
        Assert.Equal(0, reply.Version);
    }

    private sealed record FutureEvent : ChatStreamEvent;
}
