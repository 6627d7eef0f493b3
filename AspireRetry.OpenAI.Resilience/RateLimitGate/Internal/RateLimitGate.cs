using System.Globalization;

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
internal sealed class RateLimitGate
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
    private readonly RemainingOnlyEstimate _requestsRemaining = new();
    private readonly RemainingOnlyEstimate _tokensRemaining = new();
    private TimeSpan _newestCountSent = TimeSpan.MinValue;
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
        _tokens = new TokenBucketMirror(options.Reserve);
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

    /// <summary>Whether the gate mirrors the upstream's token bucket (published or configured), so attempts reserve their tokens.</summary>
    public bool KnowsTokens
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known;
            }
        }
    }

    /// <summary>The token bucket's size (tokens a minute); 0 while it is not known.</summary>
    public long TokenLimit
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known ? _tokens.Limit : 0;
            }
        }
    }

    /// <summary>The most tokens one attempt may reserve (the token bucket less its reserve); null while the bucket is not known.</summary>
    public long? TokenCeiling
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known ? _tokens.Ceiling : null;
            }
        }
    }

    /// <summary>The completion sizes this model's answers reported, for the estimate of a request that sets no limit.</summary>
    public CompletionSizes Completions { get; } = new();

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
    /// the attempt reserves <paramref name="tokens"/> (its estimated cost; 0 when unknown) and may wait for them; a
    /// request larger than the whole bucket is refused at once.
    /// </summary>
    public GateDecision Reserve(TimeSpan maxWait, long tokens = 0)
    {
        lock (_lock)
        {
            var now = Now;
            var mode = ModeLocked;
            if (tokens > 0 && _tokens.Known && tokens > _tokens.Limit)
            {
                return new GateDecision(GateDecisionKind.TooLarge, TimeSpan.Zero, GateWaitReason.Tokens, _closing.Generation, null, null, tokens);
            }

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
    }

    /// <summary>The tokens an attempt given <paramref name="start"/> holds: its cost, while the token bucket is known.</summary>
    private long TakeTokensLocked(TimeSpan start, long tokens)
    {
        if (tokens <= 0 || !_tokens.Known)
        {
            return 0;
        }

        _tokens.Take(start, tokens);
        return tokens;
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
    /// Completes the dimensions a response gave only as remaining counts (Azure's <c>x-ratelimit-remaining-*</c>) from
    /// what this gate saw (<see cref="RemainingOnlyEstimate"/>), so they pace as published limits do. Requests spent
    /// between two counts are this gate's starts between them; tokens spent are not known here, so only a refill
    /// beyond the tokens' own drop proves their rate. <paramref name="age"/> is how long ago the attempt was sent,
    /// <paramref name="start"/> the start this gate gave it.
    /// </summary>
    /// <remarks>
    /// A limit configured for the model (<see cref="ModelRateLimits"/>) caps what is published: the lower limit, the
    /// slower refill, and no more remaining than the configured bucket holds (an app may keep to a share of its key).
    /// </remarks>
    public RateLimitHeaders Complete(RateLimitHeaders headers, TimeSpan age, TimeSpan? start)
    {
        if (_configured is not null)
        {
            headers = headers with
            {
                Requests = CappedBy(headers.Requests, _configured.RequestsPerMinute),
                Tokens = CappedBy(headers.Tokens, _configured.TokensPerMinute),
            };
        }

        if (!headers.HasRemainingOnly)
        {
            return headers;
        }

        lock (_lock)
        {
            var now = Now;
            var sent = start is { } s && s <= now ? s : now - age;
            var requests = headers.Requests
                ?? (headers.RequestsRemaining is { } r ? _requestsRemaining.Learn(sent, age, r, (from, to) => _starts.StartedStrictlyBetween(from, to) + 1) : null);
            var tokens = headers.Tokens
                ?? (headers.TokensRemaining is { } t ? _tokensRemaining.Learn(sent, age, t, static (_, _) => 0) : null);
            var newest = sent > _newestCountSent;
            _newestCountSent = TimeSpans.Max(_newestCountSent, sent);
            return new RateLimitHeaders(
                CappedBy(requests, _configured?.RequestsPerMinute), CappedBy(tokens, _configured?.TokensPerMinute),
                RequestsMayRise: headers.Requests is null && requests is not null && newest);
        }
    }

    /// <summary>A published dimension under a configured per-minute limit: the lower limit and rate, what remains of it.</summary>
    private static RateLimitDimension? CappedBy(RateLimitDimension? published, long? perMinute)
    {
        if (published is null || perMinute is not { } limit || limit >= published.Limit)
        {
            return published;
        }

        var rate = Math.Min(limit / 60_000d, published.RatePerMs ?? double.MaxValue);
        var remaining = Math.Min(published.Remaining, limit);
        return new RateLimitDimension(limit, remaining, remaining < limit ? TimeSpan.FromMilliseconds((limit - remaining) / rate) : null, published.Estimated);
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
    /// An attempt let through by the slow-start window has its answer (or failed): its place is free, and a
    /// success (<paramref name="succeeded"/>, after <see cref="Observe"/> saw its headers) widens the window by one.
    /// <paramref name="roundTrip"/> is how long it took, over which the next window's attempts are spread.
    /// </summary>
    public void WindowAttemptEnded(bool succeeded, TimeSpan roundTrip = default)
    {
        lock (_lock)
        {
            _window.Left(succeeded, roundTrip);
        }

        WakeWindow();
    }

    /// <summary>The calls waiting for a place in the window ask again (outside the lock: their continuations may run inline).</summary>
    private void WakeWindow()
    {
        TaskCompletionSource? freed;
        lock (_lock)
        {
            freed = _window.TakeFreed();
        }

        freed?.TrySetResult();
    }

    /// <summary>
    /// The probe ended without telling the limits (a failure, no headers): the others go, within the slow-start
    /// window (all at once when it is off).
    /// </summary>
    public void ProbeEnded()
    {
        TaskCompletionSource? probe;
        lock (_lock)
        {
            probe = _probe.End();
        }

        probe?.TrySetResult();
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

    /// <summary>The attempt given <paramref name="start"/> was answered with a failure (a 429, a 5xx): the upstream spent none of its tokens.</summary>
    public void TokensUnspent(TimeSpan start)
    {
        lock (_lock)
        {
            _tokens.GiveBack(Now, start);
        }
    }

    /// <summary>An answer that held <paramref name="held"/> tokens reported it spent <paramref name="spent"/>: the difference comes back (or is taken).</summary>
    public void SettleTokens(long held, long spent)
    {
        lock (_lock)
        {
            _tokens.Settle(Now, held, spent);
        }
    }

    /// <summary>A short description of the gate's state, for span events and errors.</summary>
    public string Describe()
    {
        lock (_lock)
        {
            var now = Now;
            if (_closing.IsClosed(now))
            {
                return $"closed for {TimeSpans.Ms(_closing.OpenAt - now)} ms";
            }

            return ModeLocked switch
            {
                GateMode.Published when _bucket.RatePerMs is { } rate => DescribePacingLocked(now, rate),
                GateMode.Probing => "probing for the limits",
                GateMode.SlowStart => $"open (limits not published; slow start: {_window.Describe()})",
                _ when _closing.LearnedInterval is { } interval => $"open (limits not published; one request every {TimeSpans.Ms(interval)} ms learned from 429s)",
                _ => "open (limits not published)",
            };
        }
    }

    private string DescribePacingLocked(TimeSpan now, double rate)
    {
        var usable = _bucket.UsableAt(now, rate);
        var tokens = _tokens.Known
            ? $"; {Math.Max(0, Math.Floor(_tokens.UsableAt(now))).ToString(CultureInfo.InvariantCulture)} of {_tokens.Limit} tokens usable"
            : "";
        return usable < 1
            ? $"pacing at one request every {TimeSpans.Ms(TimeSpan.FromMilliseconds(1 / rate))} ms{tokens}"
            : $"open ({Math.Floor(usable).ToString(CultureInfo.InvariantCulture)} of {_bucket.Limit} requests before pacing{tokens})";
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
