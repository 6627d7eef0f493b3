namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// When recent attempts started (or are reserved to start). Without published limits, to count how many the upstream
/// admitted between two of its "next request at" answers; with them, to take the attempts still unanswered off a
/// published count that cannot include them yet. Not thread-safe: the gate's lock guards it.
/// </summary>
internal sealed class StartLedger
{
    // Enough to count the attempts between two 429s in any storm a gate sees; older ones cannot matter.
    private const int MaxStarts = 256;

    private readonly Queue<TimeSpan> _starts = new();

    // Answered attempts are taken off, so a burst's requests that the upstream admitted out of order, and answered,
    // are not taken off a later count twice.
    private readonly List<TimeSpan> _unanswered = [];

    public void Record(TimeSpan start)
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

    public void Answered(TimeSpan? start)
    {
        if (start is { } s)
        {
            _unanswered.Remove(s);
        }
    }

    public int UnansweredSince(TimeSpan sent)
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

    /// <summary>The unanswered starts at or after <paramref name="sent"/>.</summary>
    public int UnansweredFrom(TimeSpan sent) => _unanswered.Count(start => start >= sent);

    /// <summary>The gate closed: start times still ahead are void (those calls ask again), nor may they count as admitted later.</summary>
    public void VoidAfter(TimeSpan now)
    {
        _unanswered.RemoveAll(start => start > now);
        if (_starts.Count > 0 && _starts.Max() > now)
        {
            var past = _starts.Where(start => start <= now).ToArray();
            _starts.Clear();
            foreach (var start in past)
            {
                _starts.Enqueue(start);
            }
        }
    }

    /// <summary>Whether every start since <paramref name="since"/> is still on record.</summary>
    public bool CoversSince(TimeSpan since) => _starts.Count < MaxStarts || _starts.Min() <= since;

    public int StartedBetween(TimeSpan from, TimeSpan to) => _starts.Count(start => start >= from && start <= to);

    /// <summary>The starts strictly after <paramref name="from"/> and before <paramref name="to"/>: those surely admitted between the two.</summary>
    public int StartedStrictlyBetween(TimeSpan from, TimeSpan to) => _starts.Count(start => start > from && start < to);
}
