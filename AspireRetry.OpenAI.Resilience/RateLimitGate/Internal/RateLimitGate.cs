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
