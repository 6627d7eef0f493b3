using System.Globalization;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>Why an attempt waits at the gate; also the metric's and the span event's reason tag.</summary>
internal enum GateWaitReason
{
    /// <summary>A 429 with a server wait, or a spent token budget, closed the gate.</summary>
    Closed,

    /// <summary>The request budget is at its reserve: attempts are spread at the upstream's refill rate.</summary>
    Paced,

    /// <summary>
    /// The limits are not known yet: the first attempt finds them out while the rest wait, then (with no limits
    /// published) the slow-start window holds the attempts beyond it.
    /// </summary>
    Probe,
}

/// <summary>What <see cref="RateLimitGate.Reserve"/> decided for one attempt.</summary>
/// <param name="Kind">Go, wait, or reject.</param>
/// <param name="Wait">How long to wait first.</param>
/// <param name="Reason">Why it waits.</param>
/// <param name="Generation">The gate's generation: a closing since voids a reserved start.</param>
/// <param name="Probe">What to wait for, when the wait is for the probe or a place in the slow-start window.</param>
/// <param name="Start">
/// When an attempt that goes (now or after the wait) was given its start: hand it back to <see cref="RateLimitGate.Observe"/>
/// or <see cref="RateLimitGate.AttemptEnded"/>, which take it off the attempts still unanswered.
/// </param>
internal readonly record struct GateDecision(GateDecisionKind Kind, TimeSpan Wait, GateWaitReason Reason, int Generation, Task? Probe, TimeSpan? Start = null)
{
    public static GateDecision Go(TimeSpan start, bool probe = false) =>
        new(probe ? GateDecisionKind.GoAsProbe : GateDecisionKind.Go, TimeSpan.Zero, GateWaitReason.Paced, 0, null, start);
}

internal enum GateDecisionKind
{
    /// <summary>Go now.</summary>
    Go,

    /// <summary>Go now, as the probe whose response tells everyone the limits; call <see cref="RateLimitGate.ProbeEnded"/> after.</summary>
    GoAsProbe,

    /// <summary>Go now, within the slow-start window; call <see cref="RateLimitGate.WindowAttemptEnded"/> after.</summary>
    GoInWindow,

    /// <summary>A start time is reserved: wait <see cref="GateDecision.Wait"/>, then go unless the gate closed again meanwhile.</summary>
    Wait,

    /// <summary>Wait for the probe to end (or for a place in the slow-start window), then ask again.</summary>
    WaitForProbe,

    /// <summary>Wait <see cref="GateDecision.Wait"/> (the slow-start window's spacing), then ask again: nothing is reserved.</summary>
    WaitThenAsk,

    /// <summary>The wait is beyond the caller's budget: fail now, nothing reserved.</summary>
    Reject,
}

/// <summary>
/// The shared rate-limit gate of one upstream and model. It mirrors the upstream's request bucket
/// from the <c>x-ratelimit-*</c> headers (limit, remaining, and the refill rate their reset implies),
/// hands each attempt a start time from that mirror, and closes when the upstream says so (a 429 with
/// a server wait, or a token budget at its reserve). Start times are handed out one refill interval
/// apart, so when a closed gate opens the waiting calls go one by one, not all at once.
/// Thread-safe; all times come from the <see cref="TimeProvider"/>, so it is testable on a fake clock.
/// </summary>
internal sealed class RateLimitGate
{
    private readonly Lock _lock = new();
    private readonly RateLimitOptions _options;
    private readonly TimeProvider _time;
    private readonly long _origin;

    // The mirror of the upstream's request bucket, in requests above the reserve; negative while
    // start times are handed out ahead of the refill. Known once a response published the limits.
    private double? _ratePerMs;
    private long _limit;
    private double _usable;
    private TimeSpan _usableAt;

    // Nothing starts before _openAt. Without a known rate, releases after it are spaced by the learned
    // interval, else by ReleaseInterval.
    private TimeSpan _openAt;
    private TimeSpan _nextRelease;

    // Without a known rate, after a 429: every start is spaced, not only those that waited for the opening. The
    // calls held by the slow-start window (or a busy thread pool) may only ask once the gate has opened, and would
    // all go at once: measured, 24 requests within 10 ms and 1.8 requests per call in the storm. Ends when a start
    // finds the gate idle for a whole interval after an earlier start (demand fell below the rate); the next 429
    // starts it again. The first start after the opening does not end it, however late it asks.
    private bool _spacing;
    private bool _startedSinceClosing;

    // Without published limits: the refill interval learned from 429s.
    private TimeSpan? _learnedInterval;

    // When recent attempts started (or are reserved to start): without published limits, to count how many the
    // upstream admitted between two of its "next request at" answers; with them, to take the attempts still in
    // flight off a published count that cannot include them yet.
    private readonly Queue<TimeSpan> _starts = new();

    // The start times of the attempts not answered yet (sent, or reserved for later): a published count cannot include
    // the ones sent after its own request. Answered attempts are taken off, so a burst's requests that the upstream
    // admitted out of order, and answered, are not taken off a later count twice.
    private readonly List<TimeSpan> _unanswered = [];

    // Bumped on each closing: a start time reserved before it no longer holds.
    private int _generation;

    private TaskCompletionSource? _probe;
    private bool _probed;

    // Slow start, while the upstream has published no limits and not answered 429: at most _window attempts in
    // flight, one more after each success. Ended for good by published limits, a 429 or reaching MaxWindow.
    private bool _slowStart;
    private int _window;
    private int _inFlight;
    private TaskCompletionSource? _windowFreed;

    // The window's attempts are spread over the last round trip (one every round trip / window), as paced TCP
    // spreads its slow start: the first 429 then stops the rest of a window before they are sent.
    private TimeSpan _roundTrip;
    private TimeSpan _nextWindowStart;

    public RateLimitGate(string name, RateLimitOptions options, TimeProvider time)
    {
        Name = name;
        _options = options;
        _time = time;
        _origin = time.GetTimestamp();
        _probed = !options.ProbeFirst;
        _window = options.InitialWindow;
        _slowStart = _window > 0 && _window < options.MaxWindow;
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
                return _ratePerMs is not null;
            }
        }
    }

    public int Generation
    {
        get
        {
            lock (_lock)
            {
                return _generation;
            }
        }
    }

    private TimeSpan Now => _time.GetElapsedTime(_origin);

    /// <summary>
    /// Decides when the next attempt may start. A wait longer than <paramref name="maxWait"/> is not
    /// reserved: the attempt is rejected, so a call never sleeps into its own timeout.
    /// </summary>
    public GateDecision Reserve(TimeSpan maxWait)
    {
        lock (_lock)
        {
            var now = Now;
            if (_ratePerMs is null && !_probed && _openAt <= now)
            {
                if (_probe is null)
                {
                    _probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    RecordStart(now);
                    return GateDecision.Go(now, probe: true);
                }

                return new GateDecision(GateDecisionKind.WaitForProbe, TimeSpan.Zero, GateWaitReason.Probe, _generation, _probe.Task);
            }

            // Only while nothing has closed the gate (a closing ends the slow start), so the attempt would go now.
            if (_slowStart && _ratePerMs is null)
            {
                if (_inFlight >= _window)
                {
                    _windowFreed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    return new GateDecision(GateDecisionKind.WaitForProbe, TimeSpan.Zero, GateWaitReason.Probe, _generation, _windowFreed.Task);
                }

                // The spacing is our own caution, not a wait the upstream named: a call that cannot afford it goes now
                // rather than fail.
                if (_nextWindowStart > now && _nextWindowStart - now <= maxWait)
                {
                    return new GateDecision(GateDecisionKind.WaitThenAsk, _nextWindowStart - now, GateWaitReason.Probe, _generation, null);
                }
            }

            TimeSpan start;
            GateWaitReason reason;
            if (_ratePerMs is { } rate)
            {
                Refill(now, rate);
                start = _usable >= 1 ? now : now + TimeSpan.FromMilliseconds((1 - _usable) / rate);
                reason = _openAt > now ? GateWaitReason.Closed : GateWaitReason.Paced;
                if (_openAt > start)
                {
                    start = _openAt;
                }
            }
            else
            {
                start = Max(now, Max(_openAt, _nextRelease));
                reason = GateWaitReason.Closed;
            }

            var wait = start - now;
            if (wait > maxWait)
            {
                return new GateDecision(GateDecisionKind.Reject, wait, reason, _generation, null);
            }

            RecordStart(start);
            if (_ratePerMs is not null)
            {
                _usable -= 1;
            }
            else
            {
                var interval = _learnedInterval ?? _options.ReleaseInterval;
                if (_spacing && _startedSinceClosing && start >= _nextRelease + interval)
                {
                    _spacing = false;
                }

                _startedSinceClosing = true;

                if (wait > TimeSpan.Zero || _spacing)
                {
                    _nextRelease = start + interval;
                }
            }

            if (wait > TimeSpan.Zero)
            {
                return new GateDecision(GateDecisionKind.Wait, wait, reason, _generation, null, start);
            }

            if (_slowStart && _ratePerMs is null)
            {
                _inFlight++;
                _nextWindowStart = now + (_roundTrip / _window);
                return new GateDecision(GateDecisionKind.GoInWindow, TimeSpan.Zero, GateWaitReason.Probe, _generation, null, start);
            }

            return GateDecision.Go(start);
        }
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
            Answered(start);
            if (headers.Requests is { } requests)
            {
                var reserve = ReserveOf(requests.Limit);
                if (requests.RatePerMs is { } rate)
                {
                    if (_ratePerMs is null)
                    {
                        _usable = requests.Remaining - reserve;
                        _usableAt = now;
                    }

                    _ratePerMs = rate;
                }

                _limit = requests.Limit;
                if (_ratePerMs is { } known)
                {
                    // The count was taken when the upstream admitted the request, at most `age` ago; it has
                    // refilled since. The attempts we started after it was sent and that are not answered yet (in
                    // flight, or reserved for later) are most likely not in that count: taken off it, or they are spent
                    // twice (20 callers meeting a shrunken limit sent 65 requests into a bucket of 60 + 6 refilled, and
                    // met a 429). Answered ones are not taken off: admitted out of order, they may be in it already
                    // (taking off every start since cost the steady stream a quarter of its rate).
                    Refill(now, known);
                    var ours = UnansweredSince(now - age);
                    _usable = Math.Min(_usable, requests.Remaining - reserve - ours + (known * age.TotalMilliseconds));
                }
            }

            if (TokenWait(headers) is { } tokenWait)
            {
                closedFor = CloseUntil(now, now + tokenWait);
            }

            if (serverWait is { } wait)
            {
                if (_ratePerMs is null)
                {
                    LearnInterval(now - age, now + wait + OpenAIResilience.ServerDelayMargin);
                }

                closedFor = CloseUntil(now, now + wait + OpenAIResilience.ServerDelayMargin) ?? closedFor;
            }

            // Published limits pace calls from now on; a 429 closed the gate and its opening spaces them.
            if (headers.Requests is not null || serverWait is not null)
            {
                EndSlowStart();
            }

            _probed = true;
            probe = _probe;
            _probe = null;
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
            _inFlight--;
            if (succeeded)
            {
                _roundTrip = roundTrip;
            }

            if (succeeded && _slowStart && ++_window >= _options.MaxWindow)
            {
                EndSlowStart();
            }
        }

        WakeWindow();
    }

    private void EndSlowStart() => _slowStart = false;

    /// <summary>The calls waiting for a place in the window ask again (outside the lock: their continuations may run inline).</summary>
    private void WakeWindow()
    {
        TaskCompletionSource? freed;
        lock (_lock)
        {
            freed = _windowFreed;
            _windowFreed = null;
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
            _probed = true;
            probe = _probe;
            _probe = null;
        }

        probe?.TrySetResult();
    }

    /// <summary>A short description of the gate's state, for span events and errors.</summary>
    public string Describe()
    {
        lock (_lock)
        {
            var now = Now;
            if (_openAt > now)
            {
                return $"closed for {Ms(_openAt - now)} ms";
            }

            if (_ratePerMs is { } rate)
            {
                Refill(now, rate);
                return _usable < 1
                    ? $"pacing at one request every {Ms(TimeSpan.FromMilliseconds(1 / rate))} ms"
                    : $"open ({Math.Floor(_usable).ToString(CultureInfo.InvariantCulture)} of {_limit} requests before pacing)";
            }

            return !_probed ? "probing for the limits"
                : _slowStart && _ratePerMs is null ? $"open (limits not published; slow start: {_inFlight} of {_window} requests in flight)"
                : _learnedInterval is { } interval ? $"open (limits not published; one request every {Ms(interval)} ms learned from 429s)"
                : "open (limits not published)";
        }
    }

    private TimeSpan? CloseUntil(TimeSpan now, TimeSpan until)
    {
        if (until <= _openAt)
        {
            return null;
        }

        _openAt = until;
        _nextRelease = until;
        _spacing = _ratePerMs is null;
        _startedSinceClosing = false;
        _generation++;

        // Start times still ahead are void with the old generation: those calls ask again, and get new ones.
        _unanswered.RemoveAll(start => start > now);

        // Nor may they count as admitted later.
        if (_starts.Count > 0 && _starts.Max() > now)
        {
            var past = _starts.Where(start => start <= now).ToArray();
            _starts.Clear();
            foreach (var start in past)
            {
                _starts.Enqueue(start);
            }
        }

        if (_ratePerMs is { } rate)
        {
            // Exactly one request is due when the gate opens, the next one a refill interval later, and
            // so on. Start times handed out before are void (the generation moved on): those calls ask again.
            _usable = 1 - (rate * (until - now).TotalMilliseconds);
            _usableAt = now;
        }

        return until - now;
    }

    /// <summary>
    /// With no published limits, a 429 for an attempt sent after the gate last opened says the bucket was empty
    /// again by then, and when its next request is due. Every attempt that started from the opening until this
    /// one was admitted with one refill each (the opening's own request included), so the refill interval is
    /// the time between the two "next request" moments over that count. Other clients of the key only make it
    /// look longer, which errs on the side of fewer 429s.
    /// </summary>
    private void LearnInterval(TimeSpan sent, TimeSpan nextDue)
    {
        // Not sent after an opening (a burst's refusals say nothing about the refill), or the attempts since the
        // opening no longer all recorded: no evidence.
        if (_openAt <= TimeSpan.Zero || sent < _openAt || (_starts.Count >= MaxStarts && _starts.Min() > _openAt))
        {
            return;
        }

        // The refused attempt's own start is among them (it went through the gate too): it was not admitted.
        var admitted = _starts.Count(start => start >= _openAt && start <= sent) - 1;
        if (admitted > 0 && nextDue > _openAt)
        {
            _learnedInterval = (nextDue - _openAt) / admitted;
        }
    }

    // Enough to count the attempts between two 429s in any storm a gate sees; older ones cannot matter.
    private const int MaxStarts = 256;

    private int UnansweredSince(TimeSpan sent)
    {
        var count = 0;
        foreach (var start in _unanswered)
        {
            if (start > sent)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>An attempt given <paramref name="start"/> ended without a response to learn from (an error, a timeout, or it did not go).</summary>
    public void AttemptEnded(TimeSpan? start)
    {
        lock (_lock)
        {
            Answered(start);
        }
    }

    private void Answered(TimeSpan? start)
    {
        if (start is { } s)
        {
            _unanswered.Remove(s);
        }
    }

    private void RecordStart(TimeSpan start)
    {
        _unanswered.Add(start);
        if (_unanswered.Count > MaxStarts)
        {
            _unanswered.RemoveAt(0);
        }

        _starts.Enqueue(start);
        if (_starts.Count > MaxStarts)
        {
            _starts.Dequeue();
        }
    }

    private void Refill(TimeSpan now, double rate)
    {
        var ceiling = _limit - ReserveOf(_limit);
        if (now > _usableAt)
        {
            _usable = Math.Min(Math.Max(ceiling, _usable), _usable + (rate * (now - _usableAt).TotalMilliseconds));
            _usableAt = now;
        }
    }

    /// <summary>
    /// Tokens: a request's cost is unknown before it is sent, so the token budget is not mirrored; at its reserve (at
    /// least one token), the gate closes until it has refilled to it. Null when the tokens are above it.
    /// </summary>
    public TimeSpan? TokenWait(RateLimitHeaders headers)
    {
        if (headers.Tokens is { Reset: { } tokenReset } tokens && tokens.RatePerMs is { } tokenRate
            && tokens.Remaining < Math.Max(1, ReserveOf(tokens.Limit)))
        {
            var refill = TimeSpan.FromMilliseconds((Math.Max(1, ReserveOf(tokens.Limit)) - tokens.Remaining) / tokenRate);
            return Min(refill, tokenReset);
        }

        return null;
    }

    /// <summary>
    /// Requests of a published <paramref name="limit"/> kept unspent. Rounded down: a small limit (a few requests a
    /// minute) keeps all of it usable. Rounded up, a limit of 1 was all reserve, and each call waited a whole extra
    /// window after the server's Retry-After.
    /// </summary>
    public long ReserveOf(long limit) => (long)Math.Floor(limit * _options.Reserve);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Ms(TimeSpan t) => Math.Ceiling(t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}
