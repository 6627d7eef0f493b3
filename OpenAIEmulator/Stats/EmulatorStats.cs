namespace AspireRetry.OpenAIEmulator.Stats;

public sealed record OutcomeCounts(int Total, IReadOnlyDictionary<string, int> ByOutcome);

public sealed record StatsSnapshot(int Total, IReadOnlyDictionary<string, int> ByOutcome, IReadOnlyDictionary<string, OutcomeCounts> ByCaller);

/// <summary>Counts model requests (every operation and dialect) by outcome, overall and per caller.</summary>
public sealed class EmulatorStats
{
    private readonly Lock _lock = new();
    private readonly Counter _all = new();
    private readonly Dictionary<string, Counter> _byCaller = new(StringComparer.Ordinal);

    public void Record(string? caller, string outcome)
    {
        lock (_lock)
        {
            _all.Add(outcome);
            if (caller is not null)
            {
                if (!_byCaller.TryGetValue(caller, out var counter))
                {
                    _byCaller[caller] = counter = new Counter();
                }

                counter.Add(outcome);
            }
        }
    }

    public StatsSnapshot Snapshot()
    {
        lock (_lock)
        {
            return new StatsSnapshot(
                _all.Total,
                _all.Copy(),
                _byCaller.OrderBy(entry => entry.Key, StringComparer.Ordinal)
                    .ToDictionary(entry => entry.Key, entry => new OutcomeCounts(entry.Value.Total, entry.Value.Copy())));
        }
    }

    /// <summary>Forgets one caller's counts, or everything when <paramref name="caller"/> is null.</summary>
    public void Reset(string? caller)
    {
        lock (_lock)
        {
            if (caller is null)
            {
                _all.Clear();
                _byCaller.Clear();
            }
            else
            {
                _byCaller.Remove(caller);
            }
        }
    }

    private sealed class Counter
    {
        private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);

        public int Total { get; private set; }

        public void Add(string outcome)
        {
            Total++;
            _counts[outcome] = _counts.GetValueOrDefault(outcome) + 1;
        }

        public Dictionary<string, int> Copy() => new(_counts);

        public void Clear()
        {
            Total = 0;
            _counts.Clear();
        }
    }
}
