namespace AspireRetry.OpenAIEmulator.Stats;

public sealed record OutcomeCounts(int Total, IReadOnlyDictionary<string, int> ByOutcome);

public sealed record StatsSnapshot(int Total, IReadOnlyDictionary<string, int> ByOutcome, IReadOnlyDictionary<string, OutcomeCounts> ByCaller);

/// <summary>Counts chat requests by outcome, overall and per caller.</summary>
public sealed class EmulatorStats
{
    private readonly Lock gate = new();
    private readonly Counter all = new();
    private readonly Dictionary<string, Counter> byCaller = new(StringComparer.Ordinal);

    public void Record(string? caller, string outcome)
    {
        lock (gate)
        {
            all.Add(outcome);
            if (caller is not null)
            {
                if (!byCaller.TryGetValue(caller, out var counter))
                {
                    byCaller[caller] = counter = new Counter();
                }

                counter.Add(outcome);
            }
        }
    }

    public StatsSnapshot Snapshot()
    {
        lock (gate)
        {
            return new StatsSnapshot(
                all.Total,
                all.Copy(),
                byCaller.OrderBy(entry => entry.Key, StringComparer.Ordinal)
                    .ToDictionary(entry => entry.Key, entry => new OutcomeCounts(entry.Value.Total, entry.Value.Copy())));
        }
    }

    /// <summary>Forgets one caller's counts, or everything when <paramref name="caller"/> is null.</summary>
    public void Reset(string? caller)
    {
        lock (gate)
        {
            if (caller is null)
            {
                all.Clear();
                byCaller.Clear();
            }
            else
            {
                byCaller.Remove(caller);
            }
        }
    }

    private sealed class Counter
    {
        private readonly SortedDictionary<string, int> counts = new(StringComparer.Ordinal);

        public int Total { get; private set; }

        public void Add(string outcome)
        {
            Total++;
            counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
        }

        public Dictionary<string, int> Copy() => new(counts);

        public void Clear()
        {
            Total = 0;
            counts.Clear();
        }
    }
}
