namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The shared rate-limit gate of one upstream and model. It mirrors the upstream's request bucket from the
/// <c>x-ratelimit-*</c> headers (limit, remaining, and the refill rate their reset implies), hands each attempt a start
/// time from that mirror, and closes when the upstream says so (a 429 with a server wait, or a token budget at its
/// reserve). Start times are handed out one refill interval apart, so when a closed gate opens the waiting calls go one
/// by one, not all at once. Its <see cref="GateMode"/> says which rule decides a start.
/// Thread-safe: one lock guards every part; methods ending in <c>Locked</c> run under it. All times come from the
/// <see cref="TimeProvider"/>, so it is testable on a fake clock.
/// </summary>
internal sealed partial class RateLimitGate
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly long _origin;

    private readonly RequestBucketMirror _bucket;
    private readonly TokenBucketMirror _tokens;
    private readonly GateClosing _closing;
    private readonly StartLedger _starts = new();
    private readonly ProbeLatch _probe;
    private readonly SlowStartWindow _window;
    private readonly ModelRateLimits? _configured;

    /// <summary>
    /// With estimated limits (remaining counts alone), the longest wait handed out: the estimate errs slow and rises as
    /// responses come, so calls ask again rather than hold a start reserved at the slower rate.
    /// </summary>
    private static readonly TimeSpan EstimatedReask = TimeSpan.FromMilliseconds(250);

    public RateLimitGate(string name, RateLimitOptions options, TimeProvider time, ModelRateLimits? configured = null)
    {
        Name = name;
        _configured = configured;
        _time = time;
        _origin = time.GetTimestamp();
        _bucket = new RequestBucketMirror(options.Reserve);
        _tokens = new TokenBucketMirror();
        Shortfall = new EstimateShortfall(options.Reserve);
        if (configured?.TokensPerMinute is { } tokensPerMinute)
        {
            _tokens.Configure(TimeSpan.Zero, tokensPerMinute);
        }

        if (configured?.RequestsPerMinute is { } requestsPerMinute)
        {
            _bucket.Configure(TimeSpan.Zero, requestsPerMinute);
        }

        _closing = new GateClosing(options.ReleaseInterval);
        _probe = new ProbeLatch(probed: !options.ProbeFirst);
        _window = new SlowStartWindow(options.InitialWindow, options.MaxWindow);
    }

    /// <summary>The upstream and model this gate guards.</summary>
    public string Name { get; }

    /// <summary>Whether a response has published the upstream's limits (so this gate mirrors its bucket).</summary>
    public bool KnowsLimits
    {
        get
        {
            lock (_lock)
            {
                return _bucket.Known;
            }
        }
    }

    /// <summary>The completion sizes this model's answers reported, for the estimate of a request that sets no limit.</summary>
    public CompletionSizes Completions { get; } = new();

    /// <summary>How far this model's estimates fell short of its answers' usage: the margin each reservation holds.</summary>
    public EstimateShortfall Shortfall { get; }

    /// <summary>Bumped on each closing: a start time reserved before it no longer holds.</summary>
    public int Generation
    {
        get
        {
            lock (_lock)
            {
                return _closing.Generation;
            }
        }
    }

    /// <summary>Which rule decides a start now (closed or not).</summary>
    private GateMode ModeLocked =>
        _bucket.Known ? GateMode.Published
        : !_probe.Done ? GateMode.Probing
        : _window.Active ? GateMode.SlowStart
        : GateMode.Learned;

    private TimeSpan Now => _time.GetElapsedTime(_origin);

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

        if (overtakable && reason == GateWaitReason.Tokens && !_closing.IsClosed(now))
        {
            // Overtaken until its place is kept, the call's tokens may then take another refill time to come: it lets others
            // ahead only while both still fit its budget, so being overtaken never makes it miss a start it could have had.
            // A wait under a millisecond is not asked again (timers would wake it early, to be told the same).
            var refill = _tokens.RefillTime(tokens);
            var since = waitingForTokensSince ??= now;
            var keepsPlaceAt = since + refill;
            var askAgainIn = TimeSpans.Min(wait, keepsPlaceAt - now);
            if (askAgainIn >= TimeSpan.FromMilliseconds(1) && (keepsPlaceAt - now) + refill <= maxWait)
            {
                return new GateDecision(GateDecisionKind.WaitThenAsk, TimeSpans.CeilingMs(askAgainIn), GateWaitReason.Tokens, _closing.Generation, null, null, tokens);
            }
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

    /// <summary>
    /// Learns from one response: the published limits re-sync the mirror (never upwards: other clients
    /// of the same key may have spent what we did not), a token budget at its reserve closes the gate
    /// until it is back at the reserve, and a server wait (a 429 <c>rate_limit_exceeded</c>) closes it
    /// until that wait has passed. <paramref name="age"/> is how long ago the attempt was sent.
    /// Returns how long the gate is closed for, when this response closed it.
    /// </summary>
    public TimeSpan? Observe(RateLimitHeaders headers, TimeSpan? serverWait, TimeSpan age = default, TimeSpan? start = null)
    {
        TimeSpan? closedFor = null;
        TaskCompletionSource? probe;
        lock (_lock)
        {
            var now = Now;
            _starts.Answered(start);
            if (headers.Requests is { } requests)
            {
                // A count that may raise the mirror takes off every unanswered start from its own on: those the upstream admitted
                // with it in the same instant may be missing from it, and would be spent twice.
                var unanswered = headers.RequestsMayRise
                    ? _starts.UnansweredFrom(start is { } s && s <= now ? s : now - age)
                    : _starts.UnansweredSince(now - age);
                _bucket.Learn(now, requests, unanswered, age, headers.RequestsMayRise);
            }

            // The response is counted upstream now; its tokens stay held until its usage settles them. The published
            // token count paces every reservation from here on (no closing at the reserve: each waits for its own tokens).
            if (start is { } answered)
            {
                _tokens.Answered(answered);
            }

            if (headers.Tokens is { } tokens)
            {
                _tokens.Learn(now, tokens, age);
            }

            if (serverWait is { } wait)
            {
                var opening = now + wait + OpenAIResilience.ServerDelayMargin;
                if (!_bucket.Known)
                {
                    _closing.LearnInterval(now - age, opening, _starts);
                }

                closedFor = CloseUntilLocked(now, opening) ?? closedFor;
            }

            // Published limits pace calls from now on; a 429 closed the gate and its opening spaces them.
            if (headers.Requests is not null || serverWait is not null)
            {
                _window.End();
            }

            probe = _probe.End();
        }

        probe?.TrySetResult();
        WakeWindow();
        return closedFor;
    }

    /// <summary>
    /// An attempt given <paramref name="start"/> ended without a response to learn from (an error, a timeout, or it did
    /// not go): it spent none of the tokens it held.
    /// </summary>
    public void AttemptEnded(TimeSpan? start)
    {
        lock (_lock)
        {
            _starts.Answered(start);
            if (start is { } s)
            {
                _tokens.GiveBack(Now, s);
            }
        }
    }

    private TimeSpan? CloseUntilLocked(TimeSpan now, TimeSpan until)
    {
        if (!_closing.TryClose(until, limitsPublished: _bucket.Known))
        {
            return null;
        }

        _starts.VoidAfter(now);
        _bucket.ClosedUntil(now, until);
        _tokens.ClosedUntil(now, until);
        return until - now;
    }

    /// <inheritdoc cref="RequestBucketMirror.ReserveOf"/>
    public long ReserveOf(long limit) => _bucket.ReserveOf(limit);
}
