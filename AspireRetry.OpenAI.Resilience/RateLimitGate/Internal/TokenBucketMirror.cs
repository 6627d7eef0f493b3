namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The gate's mirror of the upstream's token bucket (tokens per minute). Known once a response published
/// <c>x-ratelimit-limit-tokens</c> and its reset, or a limit is configured for the upstream and model. Each attempt
/// reserves its estimated cost (<see cref="RequestCost"/>, with the margin <see cref="EstimateShortfall"/> sizes) before it
/// goes, settles to what the answer reports it spent, and gives all of it back when it spent nothing (a refusal, a
/// failure). No share of the bucket is kept back: the margins of the attempts in flight are the headroom for estimates
/// that fall short, and the published counts correct the mirror for what other clients of the key spend. Negative while
/// starts are handed out ahead of the refill. Not thread-safe: the gate's lock guards it.
/// </summary>
internal sealed class TokenBucketMirror
{
    // Tokens reserved by attempts not answered yet, by start: those whose start has not come cannot be in a published
    // count, so they are taken off it; any of them that spends nothing gives its tokens back.
    private readonly List<(TimeSpan Start, long Tokens)> _unanswered = [];
    private double _usable;
    private TimeSpan _usableAt;

    /// <summary>The refill rate in tokens per millisecond; null until published or configured.</summary>
    public double? RatePerMs { get; private set; }

    public bool Known => RatePerMs is not null;

    /// <summary>The bucket's size: the published (else configured) tokens per window.</summary>
    public long Limit { get; private set; }

    /// <summary>A limit from configuration (<c>TokensPerMinute</c>), for an upstream that publishes none: starts full.</summary>
    public void Configure(TimeSpan now, long tokensPerMinute)
    {
        Limit = tokensPerMinute;
        RatePerMs = tokensPerMinute / 60_000d;
        _usable = Limit;
        _usableAt = now;
    }

    /// <summary>
    /// Re-syncs on a published count, never upwards (other clients of the key may have spent what we did not), and only
    /// by what the count proves: it was taken at most <paramref name="age"/> ago and has refilled since; reservations
    /// whose start has not come yet cannot be in it and are taken off it, while those already sent are taken to be in it.
    /// A request sent after this one may have reached the upstream first (a burst on new connections, a busy machine):
    /// taken off as well, its tokens would be spent twice, and the mirror, which never rises on a count, would stay that
    /// much below the upstream for as long as calls keep it busy. An attempt in flight that the count does not include yet
    /// is in the mirror already, which took its tokens when it started.
    /// </summary>
    public void Learn(TimeSpan now, RateLimitDimension tokens, TimeSpan age)
    {
        if (tokens.RatePerMs is { } rate)
        {
            if (RatePerMs is null)
            {
                _usable = tokens.Remaining;
                _usableAt = now;
            }

            RatePerMs = rate;
        }

        if (RatePerMs is null)
        {
            return;
        }

        Limit = tokens.Limit;
        Refill(now);
        _usable = Math.Min(_usable, tokens.Remaining - HeldAfter(now) + (RatePerMs.Value * age.TotalMilliseconds));
    }

    /// <summary>The earliest start at which <paramref name="tokens"/> fit (a request larger than the bucket waits for a full one).</summary>
    public TimeSpan EarliestStart(TimeSpan now, long tokens)
    {
        var rate = RatePerMs!.Value;
        Refill(now);
        var need = Math.Min(tokens, Limit);
        return _usable >= need ? now : now + TimeSpan.FromMilliseconds((need - _usable) / rate);
    }

    /// <summary>How long the bucket takes to refill <paramref name="tokens"/> (at most the whole bucket).</summary>
    public TimeSpan RefillTime(long tokens) => TimeSpan.FromMilliseconds(Math.Min(tokens, Limit) / RatePerMs!.Value);

    /// <summary>An attempt given <paramref name="start"/> holds <paramref name="tokens"/>.</summary>
    public void Take(TimeSpan start, long tokens)
    {
        _usable -= tokens;
        _unanswered.Add((start, tokens));
    }

    /// <summary>
    /// The attempt given <paramref name="start"/> has its response: the upstream's counts include it from now on. Its
    /// reservation stays spent until <see cref="Settle"/> says what the answer really spent.
    /// </summary>
    public void Answered(TimeSpan start)
    {
        var at = _unanswered.FindIndex(r => r.Start == start);
        if (at >= 0)
        {
            _unanswered.RemoveAt(at);
        }
    }

    /// <summary>An answer that held <paramref name="held"/> tokens spent <paramref name="spent"/>: the difference comes back (or is taken).</summary>
    public void Settle(TimeSpan now, long held, long spent)
    {
        if (RatePerMs is null || held == spent)
        {
            return;
        }

        Refill(now);
        _usable = Math.Min(Limit, _usable + held - Math.Max(0, spent));
    }

    /// <summary>The attempt given <paramref name="start"/> spent nothing (refused, failed, or did not go): all it held comes back.</summary>
    public void GiveBack(TimeSpan now, TimeSpan start)
    {
        var at = _unanswered.FindIndex(r => r.Start == start);
        if (at < 0)
        {
            return;
        }

        var held = _unanswered[at].Tokens;
        _unanswered.RemoveAt(at);
        Settle(now, held, 0);
    }

    /// <summary>
    /// The gate closed until <paramref name="until"/>: the bucket is empty then. Reservations still to start are void
    /// (their calls ask again, after the opening) and their tokens come back, or they would be taken twice.
    /// </summary>
    public void ClosedUntil(TimeSpan now, TimeSpan until)
    {
        var voided = HeldAfter(now);
        _unanswered.RemoveAll(r => r.Start > now);
        if (RatePerMs is { } rate)
        {
            Refill(now);
            _usable = Math.Min(_usable + voided, -(rate * (until - now).TotalMilliseconds));
        }
    }

    /// <summary>Whole tokens usable now, after refilling.</summary>
    public double UsableAt(TimeSpan now)
    {
        Refill(now);
        return _usable;
    }

    /// <summary>The tokens held by reservations whose start is after <paramref name="now"/>: not sent yet.</summary>
    private long HeldAfter(TimeSpan now)
    {
        long tokens = 0;
        foreach (var (start, held) in _unanswered)
        {
            if (start > now)
            {
                tokens += held;
            }
        }

        return tokens;
    }

    private void Refill(TimeSpan now)
    {
        if (RatePerMs is { } rate && now > _usableAt)
        {
            _usable = Math.Min(Math.Max(Limit, _usable), _usable + (rate * (now - _usableAt).TotalMilliseconds));
            _usableAt = now;
        }
    }
}
