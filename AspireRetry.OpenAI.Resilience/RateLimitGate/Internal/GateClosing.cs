namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// When the gate opens again, and how starts are spaced after it opens when no limits are published. Nothing starts
/// before <see cref="OpenAt"/>; releases after it are spaced by the learned interval, else by
/// <see cref="RateLimitOptions.ReleaseInterval"/>. Not thread-safe: the gate's lock guards it.
/// </summary>
internal sealed class GateClosing(TimeSpan releaseInterval)
{
    // Without a known rate, after a 429: every start is spaced, not only those that waited for the opening. The calls
    // held by the slow-start window (or a busy thread pool) may only ask once the gate has opened, and would all go at
    // once. Ends when a start finds the gate idle for a whole interval after an earlier start (demand fell below the
    // rate); the next 429 starts it again. The first start after the opening does not end it, however late it asks.
    private bool _spacing;
    private bool _startedSinceClosing;

    public TimeSpan OpenAt { get; private set; }

    public TimeSpan NextRelease { get; private set; }

    /// <summary>Without published limits: the refill interval learned from 429s.</summary>
    public TimeSpan? LearnedInterval { get; private set; }

    /// <summary>Bumped on each closing: a start time reserved before it no longer holds.</summary>
    public int Generation { get; private set; }

    public bool IsClosed(TimeSpan now) => OpenAt > now;

    private TimeSpan Interval => LearnedInterval ?? releaseInterval;

    /// <summary>The earliest start when no limits are published: after the opening and the last release's spacing.</summary>
    public TimeSpan UnpublishedStart(TimeSpan now) => TimeSpans.Max(now, TimeSpans.Max(OpenAt, NextRelease));

    /// <summary>A start was handed out with no limits published; a start that waited (or any, while spacing) spaces the next.</summary>
    public void Started(TimeSpan start, TimeSpan wait)
    {
        var interval = Interval;
        if (_spacing && _startedSinceClosing && start >= NextRelease + interval)
        {
            _spacing = false;
        }

        _startedSinceClosing = true;
        if (wait > TimeSpan.Zero || _spacing)
        {
            NextRelease = start + interval;
        }
    }

    /// <summary>Closes until <paramref name="until"/>; false when the gate is already closed at least that long.</summary>
    public bool TryClose(TimeSpan until, bool limitsPublished)
    {
        if (until <= OpenAt)
        {
            return false;
        }

        OpenAt = until;
        NextRelease = until;
        _spacing = !limitsPublished;
        _startedSinceClosing = false;
        Generation++;
        return true;
    }

    /// <summary>
    /// With no published limits, a 429 for an attempt sent after the gate last opened says the bucket was empty again
    /// by then, and when its next request is due. Every attempt that started from the opening until this one was
    /// admitted with one refill each (the opening's own request included), so the refill interval is the time between
    /// the two "next request" moments over that count. Other clients of the key only make it look longer, which errs
    /// on the side of fewer 429s.
    /// </summary>
    public void LearnInterval(TimeSpan sent, TimeSpan nextDue, StartLedger starts)
    {
        // Not sent after an opening (a burst's refusals say nothing about the refill), or the attempts since the
        // opening no longer all recorded: no evidence.
        if (OpenAt <= TimeSpan.Zero || sent < OpenAt || !starts.CoversSince(OpenAt))
        {
            return;
        }

        // The refused attempt's own start is among them (it went through the gate too): it was not admitted.
        var admitted = starts.StartedBetween(OpenAt, sent) - 1;
        if (admitted > 0 && nextDue > OpenAt)
        {
            LearnedInterval = (nextDue - OpenAt) / admitted;
        }
    }
}
