using Microsoft.Extensions.Time.Testing;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The shared gate's decisions, on a fake clock: closing, gradual release, pacing, probing, budgets.</summary>
public sealed class RateLimitGateTests
{
    private static readonly TimeSpan Margin = OpenAIResilience.ServerDelayMargin;
    private static readonly TimeSpan Plenty = TimeSpan.FromMinutes(1);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    private RateLimitGate Gate(double reserve = 0, bool probeFirst = false) =>
        new("test gpt-4o", new RateLimitOptions { Reserve = reserve, ProbeFirst = probeFirst }, _time);

    /// <summary>Headers of a bucket of <paramref name="limit"/> per second with <paramref name="remaining"/> left.</summary>
    private static RateLimitHeaders Requests(long limit, long remaining) =>
        new(new RateLimitDimension(limit, remaining, TimeSpan.FromMilliseconds((limit - remaining) * 1000.0 / limit)), null);

    private static void AssertWait(GateDecision decision, double expectedMs)
    {
        Assert.Equal(GateDecisionKind.Wait, decision.Kind);
        Assert.Equal(expectedMs, decision.Wait.TotalMilliseconds, 3);
    }

    [Fact]
    public void A_429_closes_the_gate_until_the_server_wait_has_passed_then_releases_calls_one_refill_interval_apart()
    {
        var gate = Gate();
        gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(500));

        // 50 a second: one every 20 ms once the gate opens.
        AssertWait(gate.Reserve(Plenty), 500 + Margin.TotalMilliseconds);
        AssertWait(gate.Reserve(Plenty), 520 + Margin.TotalMilliseconds);
        AssertWait(gate.Reserve(Plenty), 540 + Margin.TotalMilliseconds);
        Assert.Equal(GateWaitReason.Closed, gate.Reserve(Plenty).Reason);
    }

    [Fact]
    public void A_tiny_limit_is_not_all_reserve_the_call_after_a_429_goes_when_the_servers_wait_is_over()
    {
        // One request per second, spent: the server says the next is admitted in 1 s. With the shipped 10%
        // reserve rounded up, the whole limit was reserve, and the retry that came back on time waited
        // almost another second at the gate (the benchmark's rate-limited scenario went from 1.02x to 1.8x).
        var gate = new RateLimitGate("test gpt-4o", new RateLimitOptions { ProbeFirst = false }, _time);
        gate.Observe(Requests(limit: 1, remaining: 0), serverWait: TimeSpan.FromMilliseconds(1000));

        _time.Advance(TimeSpan.FromMilliseconds(1000) + Margin);

        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void Without_published_limits_a_closed_gate_releases_calls_by_the_release_interval()
    {
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false, ReleaseInterval = TimeSpan.FromMilliseconds(100) }, _time);
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(300));

        AssertWait(gate.Reserve(Plenty), 300 + Margin.TotalMilliseconds);
        AssertWait(gate.Reserve(Plenty), 400 + Margin.TotalMilliseconds);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void Without_published_limits_calls_that_first_ask_after_the_opening_are_spaced_too_until_demand_falls_below_the_interval()
    {
        // The calls held by the slow-start window (or a busy thread pool) ask only once the gate has opened: they must
        // not all go at once (the storm measured 24 requests within 10 ms, and 1.8 requests per call).
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false, ReleaseInterval = TimeSpan.FromMilliseconds(100) }, _time);
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(300));
        _time.Advance(TimeSpan.FromMilliseconds(450)); // 140 ms after the opening, later than one interval

        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        AssertWait(gate.Reserve(Plenty), 100);
        AssertWait(gate.Reserve(Plenty), 200);

        // The next slot (750 ms) passes unused for a whole interval: demand is below the rate, and calls go unspaced again.
        _time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void Without_published_limits_a_429_after_the_opening_teaches_the_refill_interval()
    {
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false, ReleaseInterval = TimeSpan.FromMilliseconds(100) }, _time);
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(50)); // opens at 60 ms (margin included)
        AssertWait(gate.Reserve(Plenty), 60);
        AssertWait(gate.Reserve(Plenty), 160);

        // The upstream refills one request every 200 ms: the one released at 160 ms finds the bucket empty,
        // the next request due at 260 ms. One request (at 60 ms) was admitted since the opening.
        _time.Advance(TimeSpan.FromMilliseconds(160));
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(100));

        // Learned: 270 - 60 = 210 ms per request (the margin errs late). Releases go that far apart from now on.
        AssertWait(gate.Reserve(Plenty), 110);
        AssertWait(gate.Reserve(Plenty), 320);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("one request every 210 ms learned from 429s", gate.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_published_limits_the_refusals_of_a_burst_before_the_opening_teach_nothing()
    {
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false, ReleaseInterval = TimeSpan.FromMilliseconds(100) }, _time);
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(300));
        _time.Advance(TimeSpan.FromMilliseconds(5));
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(295), age: TimeSpan.FromMilliseconds(5)); // sent in the same burst

        AssertWait(gate.Reserve(Plenty), 305);
        AssertWait(gate.Reserve(Plenty), 405);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("open (limits not published)", gate.Describe());
    }

    [Fact]
    public void A_wait_beyond_the_callers_budget_is_rejected_and_takes_no_place_in_the_queue()
    {
        var gate = Gate();
        gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(500));

        var rejected = gate.Reserve(TimeSpan.FromMilliseconds(100));

        Assert.Equal(GateDecisionKind.Reject, rejected.Kind);
        Assert.Equal(500 + Margin.TotalMilliseconds, rejected.Wait.TotalMilliseconds, 3);
        AssertWait(gate.Reserve(Plenty), 500 + Margin.TotalMilliseconds);
    }

    [Fact]
    public void Pacing_spends_the_published_budget_down_to_the_reserve_then_spreads_calls_at_the_refill_rate()
    {
        var gate = Gate(reserve: 0.1);
        gate.Observe(Requests(limit: 20, remaining: 19), serverWait: null);

        // 19 left, 2 kept in reserve: 17 go now, then one per 50 ms (20 a second).
        for (var i = 0; i < 17; i++)
        {
            Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        }

        var paced = gate.Reserve(Plenty);
        AssertWait(paced, 50);
        Assert.Equal(GateWaitReason.Paced, paced.Reason);
        AssertWait(gate.Reserve(Plenty), 100);

        // Later responses only ever lower the estimate: another client spent part of the budget.
        _time.Advance(TimeSpan.FromSeconds(10));
        gate.Observe(Requests(limit: 20, remaining: 4), serverWait: null);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        AssertWait(gate.Reserve(Plenty), 50);
    }

    [Fact]
    public void Remaining_requests_at_zero_hold_calls_until_the_reserve_has_refilled()
    {
        var gate = Gate(reserve: 0.1);
        gate.Observe(Requests(limit: 20, remaining: 0), serverWait: null);

        // 0 left and 2 to keep: the first call goes when 3 have come back, 150 ms at 20 a second.
        AssertWait(gate.Reserve(Plenty), 150);
    }

    [Fact]
    public void An_empty_token_bucket_holds_calls_until_a_token_has_refilled_and_keeps_no_share_of_it_back()
    {
        var gate = Gate(reserve: 0.1);
        var tokens = new RateLimitDimension(Limit: 1000, Remaining: 0, Reset: TimeSpan.FromSeconds(1));

        var closed = gate.Observe(new RateLimitHeaders(null, tokens), serverWait: null);

        // 1000 tokens a second: a call of unknown cost waits for one token, 1 ms (the request reserve's 10% of the token
        // limit is not kept back: reservations hold their own margins). Nothing closes the gate: each call waits for its own tokens.
        Assert.Null(closed);
        var decision = gate.Reserve(Plenty);
        AssertWait(decision, 1);
        Assert.Equal(GateWaitReason.Tokens, decision.Reason);
    }

    [Fact]
    public void A_new_closing_voids_the_start_times_handed_out_before_it()
    {
        var gate = Gate();
        gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(100));
        var before = gate.Reserve(Plenty);

        gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(400));

        Assert.NotEqual(before.Generation, gate.Generation);
        AssertWait(gate.Reserve(Plenty), 400 + Margin.TotalMilliseconds);
    }

    [Fact]
    public void A_shorter_server_wait_does_not_reopen_a_gate_closed_for_longer()
    {
        var gate = Gate();
        gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(400));
        var generation = gate.Generation;

        Assert.Null(gate.Observe(Requests(limit: 50, remaining: 0), serverWait: TimeSpan.FromMilliseconds(100)));
        Assert.Equal(generation, gate.Generation);
        AssertWait(gate.Reserve(Plenty), 400 + Margin.TotalMilliseconds);
    }

    [Fact]
    public async Task Until_the_limits_are_known_one_probe_goes_and_the_others_wait_for_its_headers()
    {
        var gate = Gate(probeFirst: true);

        Assert.Equal(GateDecisionKind.GoAsProbe, gate.Reserve(Plenty).Kind);
        var waiting = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.WaitForProbe, waiting.Kind);
        Assert.False(waiting.Probe!.IsCompleted);

        gate.Observe(Requests(limit: 50, remaining: 49), serverWait: null);

        await waiting.Probe.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void A_probe_that_learns_nothing_hands_over_to_the_slow_start_window()
    {
        var gate = Gate(probeFirst: true);
        Assert.Equal(GateDecisionKind.GoAsProbe, gate.Reserve(Plenty).Kind);
        var waiting = gate.Reserve(Plenty);

        gate.ProbeEnded();

        Assert.True(waiting.Probe!.IsCompletedSuccessfully);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.WaitForProbe, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void Without_published_limits_calls_go_in_a_window_that_widens_by_one_per_success()
    {
        var gate = Gate(probeFirst: true);
        Assert.Equal(GateDecisionKind.GoAsProbe, gate.Reserve(Plenty).Kind);
        gate.Observe(RateLimitHeaders.None, serverWait: null); // a 200 without x-ratelimit-* headers

        // Two in flight; the third waits for a place, reported as a probe wait.
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        var waiting = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.WaitForProbe, waiting.Kind);
        Assert.Equal(GateWaitReason.Probe, waiting.Reason);
        Assert.False(waiting.Probe!.IsCompleted);
        Assert.Contains("slow start: 2 of 2 requests in flight", gate.Describe(), StringComparison.Ordinal);

        // One success: its place is free and the window is 3, so two more go.
        gate.WindowAttemptEnded(succeeded: true);
        Assert.True(waiting.Probe.IsCompletedSuccessfully);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.WaitForProbe, gate.Reserve(Plenty).Kind);

        // A failure (a 5xx, a broken connection) frees its place but does not widen the window.
        gate.WindowAttemptEnded(succeeded: false);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.WaitForProbe, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void Without_published_limits_the_first_429_ends_the_slow_start_and_the_waiting_calls_are_spaced_after_the_servers_wait()
    {
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false, ReleaseInterval = TimeSpan.FromMilliseconds(100) }, _time);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        var waiting = gate.Reserve(Plenty);

        // The second one in flight meets the empty bucket: next request admitted in 200 ms.
        _time.Advance(TimeSpan.FromMilliseconds(20));
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(200), age: TimeSpan.FromMilliseconds(20));
        gate.WindowAttemptEnded(succeeded: false);

        // The waiting call asks again and no longer meets a window: the gate is closed, then releases one per interval.
        Assert.True(waiting.Probe!.IsCompletedSuccessfully);
        AssertWait(gate.Reserve(Plenty), 200 + Margin.TotalMilliseconds);
        AssertWait(gate.Reserve(Plenty), 300 + Margin.TotalMilliseconds);

        // The last one in flight succeeds later: the window does not come back.
        gate.WindowAttemptEnded(succeeded: true);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
    }

    [Fact]
    public void The_slow_start_window_spreads_its_attempts_over_the_last_round_trip_so_a_429_stops_the_rest_unsent()
    {
        var gate = new RateLimitGate("test", new RateLimitOptions { ProbeFirst = false }, _time);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        gate.WindowAttemptEnded(succeeded: true, roundTrip: TimeSpan.FromMilliseconds(100));
        gate.WindowAttemptEnded(succeeded: true, roundTrip: TimeSpan.FromMilliseconds(100));

        // A window of 4 over a 100 ms round trip: one every 25 ms, not 4 at once.
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        var spaced = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.WaitThenAsk, spaced.Kind);
        Assert.Equal(GateWaitReason.Probe, spaced.Reason);
        Assert.Equal(25, spaced.Wait.TotalMilliseconds, 3);
        _time.Advance(TimeSpan.FromMilliseconds(25));
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);

        // A call that cannot afford the spacing is not failed for it: it goes now.
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(TimeSpan.FromMilliseconds(10)).Kind);

        // The second one meets the empty bucket: the one not yet sent waits for the server's wait instead.
        _time.Advance(TimeSpan.FromMilliseconds(5));
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromMilliseconds(200), age: TimeSpan.FromMilliseconds(5));
        AssertWait(gate.Reserve(Plenty), 200 + Margin.TotalMilliseconds);
    }

    [Fact]
    public void Published_limits_end_the_slow_start()
    {
        var gate = Gate(reserve: 0.1);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        Assert.Equal(GateDecisionKind.GoInWindow, gate.Reserve(Plenty).Kind);
        var waiting = gate.Reserve(Plenty);

        gate.Observe(Requests(limit: 1000, remaining: 998), serverWait: null);

        Assert.True(waiting.Probe!.IsCompletedSuccessfully);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty).Kind);
        }
    }

    /// <summary>
    /// A healthy upstream without headers, 100 calls at once, each round trip answering every call in flight with
    /// a 200: the probe, then 2, 4 and 8 in flight, and then the window (at 16) is lifted and the rest go together.
    /// </summary>
    [Fact]
    public void A_healthy_upstream_without_headers_slows_a_burst_by_the_probe_and_three_round_trips_at_most()
    {
        var gate = Gate(probeFirst: true);
        var left = 100;
        var sentPerRound = new List<int>();
        while (left > 0)
        {
            var probe = false;
            var inWindow = 0;
            var sent = 0;
            while (left > 0)
            {
                var decision = gate.Reserve(Plenty);
                if (decision.Kind is GateDecisionKind.WaitForProbe)
                {
                    break;
                }

                Assert.True(decision.Kind is GateDecisionKind.Go or GateDecisionKind.GoInWindow or GateDecisionKind.GoAsProbe, $"{decision.Kind}");
                probe |= decision.Kind == GateDecisionKind.GoAsProbe;
                inWindow += decision.Kind == GateDecisionKind.GoInWindow ? 1 : 0;
                sent++;
                left--;
            }

            sentPerRound.Add(sent);
            _time.Advance(TimeSpan.FromMilliseconds(50));
            if (probe)
            {
                gate.Observe(RateLimitHeaders.None, serverWait: null);
            }

            for (var i = 0; i < inWindow; i++)
            {
                gate.Observe(RateLimitHeaders.None, serverWait: null);
                gate.WindowAttemptEnded(succeeded: true);
            }
        }

        Assert.Equal([1, 2, 4, 8, 85], sentPerRound);
    }

    /// <summary>
    /// A simulated upstream with the emulator's continuous bucket (10 a second) meets a burst of 50
    /// calls: every call goes at the start time the gate gave it, and none is refused.
    /// </summary>
    [Fact]
    public void Pacing_keeps_a_burst_under_the_published_limit_without_a_single_429()
    {
        var gate = Gate(reserve: 0.1, probeFirst: true);
        var upstream = new SimulatedBucket(capacity: 10, perSecond: 10, _time);
        Assert.Equal(GateDecisionKind.GoAsProbe, gate.Reserve(Plenty).Kind);
        gate.Observe(upstream.Admit()!, serverWait: null);

        var starts = Enumerable.Range(0, 49).Select(_ => gate.Reserve(Plenty)).Select(d => d.Wait).ToList();
        var origin = _time.GetUtcNow();
        var refused = 0;
        foreach (var start in starts.Order())
        {
            _time.SetUtcNow(origin + start);
            if (upstream.Admit() is { } headers)
            {
                gate.Observe(headers, serverWait: null);
            }
            else
            {
                refused++;
            }
        }

        Assert.Equal(0, refused);
        // 10 a second: the 40 calls beyond the first 9 take about 4 s, not much more.
        Assert.InRange(starts.Max().TotalSeconds, 4.0, 4.6);
    }

    /// <summary>
    /// 20 callers chat back to back (each sends, reads its response one 20 ms round trip later, asks again) when the
    /// upstream's limit shrinks under them: its published limit was generous (as the emulator's is outside its
    /// rate-limit mode), now it is 60 a second. The first response with the new count was counted by the upstream
    /// before the 19 requests still in flight: the gate must take those off what that count leaves, or it spends
    /// them twice (measured: 65 requests in the first 102 ms against a 60 + 60/s bucket, and a 429).
    /// </summary>
    [Fact]
    public void A_count_read_while_our_own_requests_are_in_flight_does_not_spend_them_twice()
    {
        var gate = Gate(reserve: 0.1);
        gate.Observe(new RateLimitHeaders(new RateLimitDimension(10_000, 9_999, TimeSpan.FromMilliseconds(6)), null), serverWait: null);
        var upstream = new SimulatedBucket(capacity: 60, perSecond: 60, _time);
        var origin = _time.GetUtcNow();
        var roundTrip = TimeSpan.FromMilliseconds(20);

        // Per caller: when its request goes (after the gate's wait), the start the gate gave it, and when its response is read.
        var next = Enumerable.Range(0, 20).Select(_ => gate.Reserve(Plenty))
            .Select(d => (Send: origin + d.Wait, Start: d.Start, Read: (DateTimeOffset?)null, Sent: origin, Headers: (RateLimitHeaders?)null)).ToArray();
        var refused = 0;
        var sent = 0;
        for (var now = origin; now < origin + TimeSpan.FromSeconds(2); now += TimeSpan.FromMilliseconds(0.5))
        {
            _time.SetUtcNow(now);
            for (var caller = 0; caller < next.Length; caller++)
            {
                var state = next[caller];
                if (state.Read is { } read && read <= now)
                {
                    gate.Observe(state.Headers!, serverWait: null, age: now - state.Sent, start: state.Start);
                    var decision = gate.Reserve(Plenty);
                    state = (now + decision.Wait, decision.Start, null, now, null);
                }

                if (state.Read is null && state.Send <= now)
                {
                    sent++;
                    var headers = upstream.Admit();
                    refused += headers is null ? 1 : 0;
                    state = (DateTimeOffset.MaxValue, state.Start, now + roundTrip, now, headers ?? new RateLimitHeaders(new RateLimitDimension(60, 0, TimeSpan.FromSeconds(1)), null));
                }

                next[caller] = state;
            }
        }

        Assert.True(sent > 100, $"the callers sent only {sent} requests");
        Assert.Equal(0, refused);
    }

    /// <summary>
    /// A burst the upstream admits in the reverse of the order the gate let it go, each response read at once: every count
    /// already includes the requests answered before it. Taking every later start off each count (not only the unanswered
    /// ones) took them off twice: the mirror ended 52 requests below the bucket, and the next call waited most of a second
    /// (the steady-stream test measured a quarter of the rate lost).
    /// </summary>
    [Fact]
    public void A_burst_admitted_out_of_order_is_not_taken_off_the_count_twice()
    {
        var gate = Gate(reserve: 0.1, probeFirst: true);
        var upstream = new SimulatedBucket(capacity: 60, perSecond: 60, _time);
        var probe = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.GoAsProbe, probe.Kind);
        gate.Observe(upstream.Admit()!, serverWait: null, start: probe.Start);

        // 59 left, 6 kept: 53 go at once, a hundredth of a millisecond apart.
        var burst = new List<(TimeSpan? Start, DateTimeOffset Sent)>();
        for (var i = 0; i < 53; i++)
        {
            _time.Advance(TimeSpan.FromTicks(100));
            var decision = gate.Reserve(Plenty);
            Assert.Equal(GateDecisionKind.Go, decision.Kind);
            burst.Add((decision.Start, _time.GetUtcNow()));
        }

        foreach (var (start, sentAt) in Enumerable.Reverse(burst))
        {
            gate.Observe(upstream.Admit()!, serverWait: null, age: _time.GetUtcNow() - sentAt, start: start);
        }

        // The bucket holds about 6, the reserve: the next call waits about one refill interval (16.7 ms), not 53 of them.
        var next = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.Wait, next.Kind);
        Assert.InRange(next.Wait.TotalMilliseconds, 1, 40);
    }

    /// <summary>
    /// Azure's dialect: the upstream says only how many requests remain (no limit, no reset), here 20 per 2 s, while 20
    /// callers chat back to back (20 ms round trips) for 10 s. The gate completes each count into a limit and a refill
    /// rate that err slow, so after the first response nothing is refused, and it still delivers most of the bucket.
    /// </summary>
    [Fact]
    public void Remaining_only_counts_pace_back_to_back_callers_without_a_429_and_near_the_limit()
    {
        var gate = Gate(reserve: 0.1, probeFirst: true);
        var upstream = new SimulatedBucket(capacity: 20, perSecond: 10, _time, remainingOnly: true);
        var origin = _time.GetUtcNow();
        var roundTrip = TimeSpan.FromMilliseconds(20);
        var probe = gate.Reserve(Plenty);
        Assert.Equal(GateDecisionKind.GoAsProbe, probe.Kind);

        // Per caller: when it next asks the gate, or when its request goes (and the start it was given), or when its response is read.
        var callers = Enumerable.Range(0, 20).Select(_ => new Caller { AskAt = DateTimeOffset.MaxValue }).ToArray();
        callers[0] = new Caller { SendAt = origin, Start = probe.Start };
        var refused = 0;
        var sent = 0;
        for (var now = origin; now < origin + TimeSpan.FromSeconds(10); now += TimeSpan.FromMilliseconds(0.5))
        {
            _time.SetUtcNow(now);
            foreach (var caller in callers)
            {
                if (caller.ReadAt <= now)
                {
                    var age = now - caller.SentAt;
                    gate.Observe(gate.Complete(caller.Headers!, age, caller.Start), serverWait: null, age: age, start: caller.Start);
                    caller.ReadAt = DateTimeOffset.MaxValue;
                    foreach (var waiting in callers.Where(c => c.AskAt == DateTimeOffset.MaxValue && c.SendAt == DateTimeOffset.MaxValue && c.ReadAt == DateTimeOffset.MaxValue))
                    {
                        waiting.AskAt = now; // the probe's answer wakes the others
                    }
                }

                if (caller.AskAt <= now)
                {
                    var decision = gate.Reserve(Plenty);
                    Assert.NotEqual(GateDecisionKind.WaitForProbe, decision.Kind);
                    caller.AskAt = decision.Kind == GateDecisionKind.WaitThenAsk ? now + decision.Wait : DateTimeOffset.MaxValue;
                    caller.SendAt = decision.Kind == GateDecisionKind.WaitThenAsk ? DateTimeOffset.MaxValue : now + decision.Wait;
                    caller.Start = decision.Start;
                }

                if (caller.SendAt <= now)
                {
                    sent++;
                    var headers = upstream.Admit();
                    refused += headers is null ? 1 : 0;
                    caller.SendAt = DateTimeOffset.MaxValue;
                    caller.SentAt = now;
                    caller.ReadAt = now + roundTrip;
                    caller.Headers = headers ?? RateLimitHeaders.None;
                }

                if (caller.ReadAt == DateTimeOffset.MaxValue && caller.SendAt == DateTimeOffset.MaxValue && caller.AskAt == DateTimeOffset.MaxValue && caller.Headers is not null)
                {
                    caller.AskAt = now; // answered: chats again at once
                    caller.Headers = null;
                }
            }
        }

        Assert.Equal(0, refused);
        // The bucket holds 20 and refills 10 a second: 120 in 10 s at most.
        Assert.True(sent >= 100, $"the callers sent only {sent} requests of the 120 the bucket allowed");
    }

    private sealed class Caller
    {
        public DateTimeOffset AskAt { get; set; } = DateTimeOffset.MaxValue;

        public DateTimeOffset SendAt { get; set; } = DateTimeOffset.MaxValue;

        public DateTimeOffset ReadAt { get; set; } = DateTimeOffset.MaxValue;

        public DateTimeOffset SentAt { get; set; }

        public TimeSpan? Start { get; set; }

        public RateLimitHeaders? Headers { get; set; }
    }

    /// <summary>The emulator's token bucket in miniature: continuous refill, headers as OpenAI (or, remaining only, Azure) sends them.</summary>
    private sealed class SimulatedBucket(int capacity, double perSecond, TimeProvider time, bool remainingOnly = false)
    {
        private double _available = capacity;
        private DateTimeOffset _at = time.GetUtcNow();

        public RateLimitHeaders? Admit()
        {
            var now = time.GetUtcNow();
            _available = Math.Min(capacity, _available + ((now - _at).TotalSeconds * perSecond));
            _at = now;
            if (_available + 1e-9 < 1)
            {
                return null;
            }

            _available -= 1;
            var remaining = (long)Math.Floor(_available + 1e-9);
            var reset = TimeSpan.FromMilliseconds(Math.Ceiling((capacity - _available) / perSecond * 1000));
            return remainingOnly
                ? new RateLimitHeaders(null, null, RequestsRemaining: remaining > 0 ? remaining : null)
                : new RateLimitHeaders(new RateLimitDimension(capacity, remaining, reset), null);
        }
    }
}
