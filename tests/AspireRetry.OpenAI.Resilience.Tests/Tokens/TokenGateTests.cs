using Microsoft.Extensions.Time.Testing;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The gate's token bucket on a fake clock: each attempt reserves its estimated tokens before it goes, an answer settles
/// them to its usage, a failure gives them back, and a request larger than the whole bucket is refused at once.
/// </summary>
public sealed class TokenGateTests
{
    private static readonly TimeSpan Plenty = TimeSpan.FromMinutes(2);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));

    /// <summary>A gate whose model has a configured limit of 6,000 tokens a minute: 100 a second, no reserve kept.</summary>
    private RateLimitGate Gate(long tokensPerMinute = 6_000) =>
        new("test gpt-4o", new RateLimitOptions { Reserve = 0, ProbeFirst = false, InitialWindow = 0 }, _time, new ModelRateLimits { TokensPerMinute = tokensPerMinute });

    [Fact]
    public void An_attempt_reserves_its_tokens_and_the_next_waits_until_the_bucket_has_refilled_enough_for_it()
    {
        var gate = Gate();

        var first = gate.Reserve(Plenty, tokens: 5_000);
        var second = gate.Reserve(Plenty, tokens: 2_000);

        Assert.Equal((GateDecisionKind.Go, 5_000L), (first.Kind, first.Tokens));
        // 1,000 left: the other 1,000 come back in 10 s at 100 a second.
        Assert.Equal((GateDecisionKind.Wait, GateWaitReason.Tokens, 2_000L), (second.Kind, second.Reason, second.Tokens));
        Assert.Equal(10_000, second.Wait.TotalMilliseconds, 1);
    }

    [Fact]
    public void An_answer_that_spent_less_than_its_estimate_gives_the_rest_back_at_once()
    {
        var gate = Gate();
        var first = gate.Reserve(Plenty, tokens: 5_000);
        gate.Observe(RateLimitHeaders.None, serverWait: null, start: first.Start);

        gate.SettleTokens(held: 5_000, spent: 1_200);

        // 4,800 usable again: 4,000 go now, not 30 s later.
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 4_000).Kind);
        Assert.Equal(GateDecisionKind.Wait, gate.Reserve(Plenty, tokens: 1_000).Kind);
    }

    [Fact]
    public void An_answer_that_spent_more_than_its_estimate_takes_the_difference_too()
    {
        var gate = Gate();
        var first = gate.Reserve(Plenty, tokens: 1_000);
        gate.Observe(RateLimitHeaders.None, serverWait: null, start: first.Start);

        gate.SettleTokens(held: 1_000, spent: 3_000);

        // 3,000 left, not 5,000: a 4,000-token request waits 10 s for the 1,000 it lacks.
        var next = gate.Reserve(Plenty, tokens: 4_000);
        Assert.Equal(GateDecisionKind.Wait, next.Kind);
        Assert.Equal(10_000, next.Wait.TotalMilliseconds, 1);
    }

    [Fact]
    public void A_refused_or_failed_attempt_gives_back_every_token_it_held()
    {
        var gate = Gate();
        var refused = gate.Reserve(Plenty, tokens: 5_000);
        var failed = gate.Reserve(Plenty, tokens: 1_000);

        gate.TokensUnspent(refused.Start!.Value); // answered 429 or 5xx
        gate.AttemptEnded(failed.Start); // no answer at all

        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 6_000).Kind);
    }

    [Fact]
    public void A_request_larger_than_the_whole_bucket_is_refused_at_once_with_its_size()
    {
        var gate = Gate();

        var decision = gate.Reserve(Plenty, tokens: 6_001);

        Assert.Equal((GateDecisionKind.TooLarge, 6_001L), (decision.Kind, decision.Tokens));
        Assert.Equal(6_000, gate.TokenLimit);
        // Nothing was reserved: the whole bucket is still there.
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 6_000).Kind);
    }

    [Fact]
    public void A_configured_limit_caps_a_larger_published_one()
    {
        var gate = Gate(); // 6,000 a minute configured
        var published = new RateLimitHeaders(null, new RateLimitDimension(1_000_000, 999_000, TimeSpan.FromMilliseconds(60)));

        gate.Observe(gate.Complete(published, TimeSpan.Zero, null), serverWait: null);

        Assert.Equal(6_000, gate.TokenLimit);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 5_000).Kind);
        Assert.Equal(GateDecisionKind.Wait, gate.Reserve(Plenty, tokens: 2_000).Kind);
    }

    [Fact]
    public void A_published_token_count_is_mirrored_and_reservations_in_flight_are_not_spent_twice()
    {
        var gate = new RateLimitGate("test gpt-4o", new RateLimitOptions { Reserve = 0, ProbeFirst = false, InitialWindow = 0 }, _time);
        Assert.False(gate.KnowsTokens);
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 9_999).Kind); // unknown yet: nothing is reserved

        // 10,000 a minute, 8,000 left (refills in 12 s): known from here on.
        var published = new RateLimitHeaders(null, new RateLimitDimension(10_000, 8_000, TimeSpan.FromSeconds(12)));
        gate.Observe(published, serverWait: null);
        var inFlight = gate.Reserve(Plenty, tokens: 5_000);
        Assert.True(gate.KnowsTokens);
        Assert.Equal(GateDecisionKind.Go, inFlight.Kind);

        // Another response, sent before the one in flight, says 8,000 again: the 5,000 held are taken off it once.
        _time.Advance(TimeSpan.FromMilliseconds(1));
        gate.Observe(published, serverWait: null, age: TimeSpan.FromMilliseconds(10));
        var next = gate.Reserve(Plenty, tokens: 4_000);
        Assert.Equal((GateDecisionKind.Wait, GateWaitReason.Tokens), (next.Kind, next.Reason));
        Assert.InRange(next.Wait.TotalMilliseconds, 5_000, 6_100); // 1,000 missing at 1 token / 6 ms
    }

    [Fact]
    public void A_count_that_already_includes_a_request_sent_after_its_own_does_not_take_that_request_off_again()
    {
        var gate = Gate(tokensPerMinute: 60_000); // 1 a millisecond, full
        var first = gate.Reserve(Plenty, tokens: 2_000);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        gate.Reserve(Plenty, tokens: 3_000);

        // The second request reached the upstream first: the first one's count (taken 100 ms ago) holds both.
        _time.Advance(TimeSpan.FromMilliseconds(100));
        var published = new RateLimitHeaders(null, new RateLimitDimension(60_000, 55_000, TimeSpan.FromSeconds(5)));
        gate.Observe(published, serverWait: null, age: TimeSpan.FromMilliseconds(101), start: first.Start);

        // 55,101 usable, as the upstream has: taking the 3,000 off the count again would leave 52,101, and this would wait 3 s.
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 55_100).Kind);
    }

    [Fact]
    public void A_count_lowers_the_mirror_by_what_other_clients_spent_with_the_reservations_still_to_start_taken_off_it()
    {
        var gate = Gate(tokensPerMinute: 60_000);
        var first = gate.Reserve(Plenty, tokens: 59_000);
        var waiting = gate.Reserve(Plenty, tokens: 5_000);
        Assert.Equal(4_000, waiting.Wait.TotalMilliseconds, 1);

        // The first one's count: another client of the key spent the 1,000 it left (and nothing has refilled yet).
        _time.Advance(TimeSpan.FromMilliseconds(100));
        var published = new RateLimitHeaders(null, new RateLimitDimension(60_000, 0, TimeSpan.FromSeconds(60)));
        gate.Observe(published, serverWait: null, age: TimeSpan.FromMilliseconds(100), start: first.Start);

        // The waiting 5,000 cannot be in that count: they are taken off it, so the next 1,000 start at 6 s (the count's 0
        // refilled from 0.1 s by the waiting 5,000, then these 1,000), not at 5 s as if the other client had spent nothing.
        var next = gate.Reserve(Plenty, tokens: 1_000);
        Assert.Equal(5_900, next.Wait.TotalMilliseconds, 1);
    }

    [Fact]
    public void A_closing_gives_back_the_tokens_of_the_starts_it_voids_so_their_calls_do_not_pay_twice()
    {
        var gate = Gate(); // 6,000 a minute, 100 a second
        gate.Reserve(Plenty, tokens: 6_000);
        var waiting = gate.Reserve(Plenty, tokens: 1_000);
        Assert.Equal(10_000, waiting.Wait.TotalMilliseconds, 1);

        // A 429 asks for 1 s: the waiting start is void, and its call asks again.
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromSeconds(1));
        Assert.NotEqual(waiting.Generation, gate.Generation);
        var again = gate.Reserve(Plenty, tokens: 1_000);

        // The bucket is empty until the opening (1 s and the 10 ms margin), then 1,000 take 10 s: 11.01 s, not 20 s for the
        // voided start's tokens taken a second time.
        Assert.Equal(11_010, again.Wait.TotalMilliseconds, 1);
    }

    [Fact]
    public void A_call_that_fits_now_goes_ahead_of_one_waiting_for_its_tokens_which_reserves_nothing_meanwhile()
    {
        var gate = Gate(); // 6,000 a minute, 100 a second
        gate.Reserve(Plenty, tokens: 5_000);
        TimeSpan? largeSince = null;
        TimeSpan? smallSince = null;

        var large = gate.Admit(Plenty, 2_000, ref largeSince);
        var small = gate.Admit(Plenty, 1_000, ref smallSince);

        // The large call lacks 1,000 tokens: it is told to ask again when they are there (10 s), holding nothing.
        Assert.Equal((GateDecisionKind.WaitThenAsk, GateWaitReason.Tokens, 2_000L, (TimeSpan?)null), (large.Kind, large.Reason, large.Tokens, large.Start));
        Assert.Equal(10_000, large.Wait.TotalMilliseconds, 1);
        // The 1,000 left are the small call's now; in arrival order it would have waited 10 s more behind the large one.
        Assert.Equal((GateDecisionKind.Go, 1_000L), (small.Kind, small.Tokens));
        Assert.Null(smallSince);
    }

    [Fact]
    public void A_call_waiting_for_its_tokens_is_overtaken_for_at_most_its_own_refill_time_then_keeps_its_place()
    {
        var gate = Gate(); // 100 a second
        gate.Reserve(Plenty, tokens: 6_000);
        TimeSpan? largeSince = null;
        Assert.Equal(GateDecisionKind.WaitThenAsk, gate.Admit(Plenty, 2_000, ref largeSince).Kind);

        // At 10 s a small call takes the 1,000 that came back meanwhile.
        _time.Advance(TimeSpan.FromSeconds(10));
        TimeSpan? smallSince = null;
        Assert.Equal(GateDecisionKind.Go, gate.Admit(Plenty, 1_000, ref smallSince).Kind);

        // At 20 s the large call has waited as long as its 2,000 tokens take to refill: it now reserves its start (30 s)
        // and holds its tokens, where it asked again until then.
        _time.Advance(TimeSpan.FromSeconds(10));
        var large = gate.Admit(Plenty, 2_000, ref largeSince);
        Assert.Equal((GateDecisionKind.Wait, GateWaitReason.Tokens, 2_000L), (large.Kind, large.Reason, large.Tokens));
        Assert.Equal(10_000, large.Wait.TotalMilliseconds, 1);

        // So a call of 500 that asks at 21 s no longer goes ahead of it: it asks again at 26 s (its own 5 s refill time)
        // and its 500 come after the large call's 2,000, at 35 s.
        _time.Advance(TimeSpan.FromSeconds(1));
        TimeSpan? laterSince = null;
        var later = gate.Admit(Plenty, 500, ref laterSince);
        Assert.Equal((GateDecisionKind.WaitThenAsk, 5_000d), (later.Kind, Math.Round(later.Wait.TotalMilliseconds)));
        _time.Advance(later.Wait);
        later = gate.Admit(Plenty, 500, ref laterSince);
        Assert.Equal((GateDecisionKind.Wait, 9_000d), (later.Kind, Math.Round(later.Wait.TotalMilliseconds)));
    }

    [Fact]
    public void A_call_lets_others_ahead_only_while_being_overtaken_still_fits_its_budget()
    {
        var gate = Gate(); // 100 a second
        gate.Reserve(Plenty, tokens: 6_000);
        TimeSpan? roomySince = null;
        TimeSpan? tightSince = null;

        // 2,000 tokens come in 20 s; overtaken for up to 20 s, they could then take another 20 s: 40 s in all.
        var roomy = gate.Admit(TimeSpan.FromSeconds(40), 2_000, ref roomySince);
        var tight = gate.Admit(TimeSpan.FromSeconds(39), 2_000, ref tightSince);

        Assert.Equal(GateDecisionKind.WaitThenAsk, roomy.Kind);
        // With a second less it keeps its place at once (in arrival order, behind nothing: 20 s), rather than risk being
        // pushed beyond its budget and refused after waiting.
        Assert.Equal((GateDecisionKind.Wait, 20_000d), (tight.Kind, Math.Round(tight.Wait.TotalMilliseconds)));
    }

    [Fact]
    public void A_call_whose_tokens_are_less_than_a_millisecond_away_reserves_instead_of_asking_again()
    {
        var gate = Gate(tokensPerMinute: 60_000); // 1 a millisecond
        gate.Reserve(Plenty, tokens: 60_000);
        _time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMillisecond / 2));
        TimeSpan? since = null;

        // Half a token is there, one is needed: half a millisecond away. A timer would wake it early and it would ask again
        // for the same answer; it takes its start and goes then.
        var decision = gate.Admit(Plenty, 1, ref since);

        Assert.Equal(GateDecisionKind.Wait, decision.Kind);
        Assert.Equal(0.5, decision.Wait.TotalMilliseconds, 3);
    }

    [Fact]
    public void While_the_gate_is_closed_calls_keep_their_places_in_arrival_order()
    {
        var gate = Gate(); // 100 a second
        gate.Observe(RateLimitHeaders.None, serverWait: TimeSpan.FromSeconds(1));
        TimeSpan? since = null;

        var decision = gate.Admit(Plenty, 1_000, ref since);

        // The bucket counts as empty until the opening (1.01 s), then 1,000 take 10 s: a reserved start, not a call that
        // asks again and may find others ahead of it when the gate opens.
        Assert.Equal((GateDecisionKind.Wait, 11_010d), (decision.Kind, Math.Round(decision.Wait.TotalMilliseconds)));
    }
}
