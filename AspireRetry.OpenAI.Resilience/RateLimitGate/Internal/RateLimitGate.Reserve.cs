namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The gate's decision of when an attempt starts: the probe, the slow-start window, the request bucket's pacing or a
/// closing, and the token bucket (where a call waiting for its tokens may let calls that fit go ahead of it).
/// </summary>
internal sealed partial class RateLimitGate
{
    /// <summary>
    /// With estimated limits (remaining counts alone), the longest wait handed out: the estimate errs slow and rises as
    /// responses come, so calls ask again rather than hold a start reserved at the slower rate.
    /// </summary>
    private static readonly TimeSpan EstimatedReask = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Decides when the next attempt may start. A wait longer than <paramref name="maxWait"/> is not
    /// reserved: the attempt is rejected, so a call never sleeps into its own timeout. With the token bucket known,
    /// the attempt reserves <paramref name="tokens"/> (its estimated cost; 0 when unknown) and the margin of the model's
    /// recent estimate errors (<see cref="Shortfall"/>; never beyond the whole bucket), and may wait for them; a request
    /// whose estimate is larger than the whole bucket is refused at once.
    /// </summary>
    public GateDecision Reserve(TimeSpan maxWait, long tokens = 0)
    {
        TimeSpan? inOrder = null;
        lock (_lock)
        {
            return ReserveLocked(maxWait, tokens, overtakable: false, ref inOrder);
        }
    }

    /// <summary>
    /// <see cref="Reserve"/> for a call that lets others go ahead while it waits for its tokens: when the token bucket is
    /// what holds it longest (its tokens come later than the request bucket would let it go) and the gate is not closed,
    /// it reserves nothing at first and is told to ask again when its tokens would be there, so a call that fits the
    /// bucket now goes now instead of waiting behind it (a short prompt does not queue behind a batch, and the tokens
    /// gathering for a long one are not left unused). It may be overtaken so for as long as its own tokens take to refill,
    /// counted from its first wait (<paramref name="waitingForTokensSince"/>, set here), and only while that and another
    /// refill time still fit <paramref name="maxWait"/> (the caller takes the time it has waited off its budget): then it
    /// reserves its start and keeps its place, so it is at most about that much later than in arrival order.
    /// </summary>
    public GateDecision Admit(TimeSpan maxWait, long tokens, ref TimeSpan? waitingForTokensSince)
    {
        lock (_lock)
        {
            return ReserveLocked(maxWait, tokens, overtakable: true, ref waitingForTokensSince);
        }
    }

    private GateDecision ReserveLocked(TimeSpan maxWait, long tokens, bool overtakable, ref TimeSpan? waitingForTokensSince)
    {
        var now = Now;
        var mode = ModeLocked;
        if (tokens > 0 && _tokens.Known && tokens > _tokens.Limit)
        {
            return new GateDecision(GateDecisionKind.TooLarge, TimeSpan.Zero, GateWaitReason.Tokens, _closing.Generation, null, null, tokens);
        }

        // What the attempt holds from here on: its estimate and the margin, never more than the whole bucket.
        tokens = _tokens.Known ? Math.Min(Shortfall.Hold(tokens), _tokens.Limit) : tokens;

        if (mode == GateMode.Probing && !_closing.IsClosed(now))
        {
            if (_probe.TryGo(out var answered))
            {
                _starts.Record(now);
                return GateDecision.Go(now, probe: true, tokens: TakeTokensLocked(now, tokens));
            }

            return new GateDecision(GateDecisionKind.WaitForProbe, TimeSpan.Zero, GateWaitReason.Probe, _closing.Generation, answered);
        }

        // Only while nothing has closed the gate (a closing ends the slow start), so the attempt would go now.
        if (mode == GateMode.SlowStart)
        {
            if (_window.IsFull)
            {
                return new GateDecision(GateDecisionKind.WaitForProbe, TimeSpan.Zero, GateWaitReason.Probe, _closing.Generation, _window.PlaceFreed);
            }

            if (_window.SpacingWait(now, maxWait) is { } spacing)
            {
                return new GateDecision(GateDecisionKind.WaitThenAsk, spacing, GateWaitReason.Probe, _closing.Generation, null);
            }
        }

        var (start, reason) = EarliestStartLocked(now, tokens);
        var wait = start - now;
        if (wait > maxWait)
        {
            return new GateDecision(GateDecisionKind.Reject, wait, reason, _closing.Generation, null);
        }

        if (overtakable && reason == GateWaitReason.Tokens && !_closing.IsClosed(now) && AskAgainLocked(now, wait, maxWait, tokens, ref waitingForTokensSince) is { } askAgain)
        {
            return askAgain;
        }

        if (_bucket.Estimated && reason == GateWaitReason.Paced && wait > EstimatedReask)
        {
            return new GateDecision(GateDecisionKind.WaitThenAsk, EstimatedReask, GateWaitReason.Paced, _closing.Generation, null);
        }

        _starts.Record(start);
        if (_bucket.Known)
        {
            _bucket.Take();
        }
        else
        {
            _closing.Started(start, wait);
        }

        var held = TakeTokensLocked(start, tokens);
        if (wait > TimeSpan.Zero)
        {
            return new GateDecision(GateDecisionKind.Wait, wait, reason, _closing.Generation, null, start, held);
        }

        if (mode == GateMode.SlowStart)
        {
            _window.Enter(now);
            return new GateDecision(GateDecisionKind.GoInWindow, TimeSpan.Zero, GateWaitReason.Probe, _closing.Generation, null, start, held);
        }

        return GateDecision.Go(start, tokens: held);
    }

    /// <summary>
    /// For a call that lets others ahead while it waits <paramref name="wait"/> for its tokens: when to ask again, holding
    /// nothing; null once it keeps its place. Overtaken until then, its tokens may take another refill time to come: it
    /// lets others ahead only while both still fit <paramref name="maxWait"/>, so being overtaken never makes it miss a
    /// start it could have had. A wait under a millisecond is not asked again (timers would wake it early, to be told the same).
    /// </summary>
    private GateDecision? AskAgainLocked(TimeSpan now, TimeSpan wait, TimeSpan maxWait, long tokens, ref TimeSpan? waitingForTokensSince)
    {
        var refill = _tokens.RefillTime(tokens);
        var keepsPlaceAt = (waitingForTokensSince ??= now) + refill;
        var askAgainIn = TimeSpans.Min(wait, keepsPlaceAt - now);
        return askAgainIn >= TimeSpan.FromMilliseconds(1) && keepsPlaceAt - now + refill <= maxWait
            ? new GateDecision(GateDecisionKind.WaitThenAsk, TimeSpans.CeilingMs(askAgainIn), GateWaitReason.Tokens, _closing.Generation, null, null, tokens)
            : null;
    }

    private (TimeSpan Start, GateWaitReason Reason) EarliestStartLocked(TimeSpan now, long tokens)
    {
        var (start, reason) = _bucket.RatePerMs is not { } rate
            ? (_closing.UnpublishedStart(now), GateWaitReason.Closed)
            : (TimeSpans.Max(_bucket.EarliestStart(now, rate), _closing.OpenAt), _closing.IsClosed(now) ? GateWaitReason.Closed : GateWaitReason.Paced);
        // A request whose cost is unknown (not a chat, Responses or embeddings call) needs a token above the reserve at least.
        if (_tokens.Known && _tokens.EarliestStart(now, Math.Max(1, tokens)) is var forTokens && forTokens > start)
        {
            return (forTokens, GateWaitReason.Tokens);
        }

        return (start, reason);
    }
}
