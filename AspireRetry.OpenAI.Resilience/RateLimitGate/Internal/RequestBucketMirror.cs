namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The gate's mirror of the upstream's request bucket, in requests above the reserve; negative while start times are
/// handed out ahead of the refill. Known once a response published the limits. Not thread-safe: the gate's lock
/// guards it.
/// </summary>
internal sealed class RequestBucketMirror(double reserveShare)
{
    private double _usable;
    private TimeSpan _usableAt;

    /// <summary>The refill rate the published reset implies; null until a response published it.</summary>
    public double? RatePerMs { get; private set; }

    public bool Known => RatePerMs is not null;

    /// <summary>Whether the limit and rate are the gate's estimate from remaining counts alone (they err slow, and rise).</summary>
    public bool Estimated { get; private set; }

    /// <summary>The published limit.</summary>
    public long Limit { get; private set; }

    /// <summary>
    /// Requests of a published <paramref name="limit"/> kept unspent. Rounded down: a small limit (a few requests a
    /// minute) keeps all of it usable; rounded up, a limit of 1 would be all reserve.
    /// </summary>
    public long ReserveOf(long limit) => (long)Math.Floor(limit * reserveShare);

    /// <summary>
    /// Re-syncs on a published count, never upwards: other clients of the same key may have spent what we did not.
    /// The count was taken when the upstream admitted the request, at most <paramref name="age"/> ago, and has refilled
    /// since; <paramref name="unansweredSinceSent"/> (our attempts started after it was sent and not answered yet) cannot
    /// be in it, so they are taken off, or they would be spent twice. Answered ones may be in it already.
    /// A count the gate estimated the rate for (remaining-only headers) and that is the newest it has
    /// (<paramref name="mayRise"/>) re-syncs upwards too: the estimate errs slow, and the count says by how much.
    /// </summary>
    public void Learn(TimeSpan now, RateLimitDimension requests, int unansweredSinceSent, TimeSpan age, bool mayRise = false)
    {
        var reserve = ReserveOf(requests.Limit);
        if (requests.RatePerMs is { } rate)
        {
            if (RatePerMs is null)
            {
                _usable = requests.Remaining - reserve;
                _usableAt = now;
            }

            RatePerMs = rate;
        }

        Limit = requests.Limit;
        Estimated = requests.Estimated;
        if (RatePerMs is { } known)
        {
            Refill(now, known);
            var synced = requests.Remaining - reserve - unansweredSinceSent + (known * age.TotalMilliseconds);
            _usable = mayRise ? Math.Min(synced, Limit - reserve) : Math.Min(_usable, synced);
        }
    }

    /// <summary>A limit from configuration (<c>RequestsPerMinute</c>), for an upstream that publishes none: starts full.</summary>
    public void Configure(TimeSpan now, long requestsPerMinute)
    {
        Limit = requestsPerMinute;
        RatePerMs = requestsPerMinute / 60_000d;
        _usable = Limit - ReserveOf(Limit);
        _usableAt = now;
    }

    /// <summary>The earliest start the bucket allows now (a known rate only).</summary>
    public TimeSpan EarliestStart(TimeSpan now, double rate)
    {
        Refill(now, rate);
        return _usable >= 1 ? now : now + TimeSpan.FromMilliseconds((1 - _usable) / rate);
    }

    /// <summary>One start handed out.</summary>
    public void Take() => _usable -= 1;

    /// <summary>
    /// The gate closed until <paramref name="until"/>: exactly one request is due when it opens, the next one a refill
    /// interval later, and so on. Start times handed out before are void (the gate's generation moved on).
    /// </summary>
    public void ClosedUntil(TimeSpan now, TimeSpan until)
    {
        if (RatePerMs is { } rate)
        {
            _usable = 1 - (rate * (until - now).TotalMilliseconds);
            _usableAt = now;
        }
    }

    /// <summary>Whole requests usable before pacing, after refilling to <paramref name="now"/>.</summary>
    public double UsableAt(TimeSpan now, double rate)
    {
        Refill(now, rate);
        return _usable;
    }

    private void Refill(TimeSpan now, double rate)
    {
        var ceiling = Limit - ReserveOf(Limit);
        if (now > _usableAt)
        {
            _usable = Math.Min(Math.Max(ceiling, _usable), _usable + (rate * (now - _usableAt).TotalMilliseconds));
            _usableAt = now;
        }
    }
}
