namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>What is left of the scripts: the shared queue and each caller's own queue.</summary>
public sealed record ScriptSnapshot(IReadOnlyList<string> Outcomes, IReadOnlyDictionary<string, IReadOnlyList<string>> ByCaller);

/// <summary>
/// Exact outcome queues, one entry consumed per model request. A caller's own queue is used first,
/// then the shared queue (entries posted without a caller apply to every request).
/// </summary>
public sealed class ChaosScript
{
    private readonly Lock _lock = new();
    private readonly Queue<ChaosOutcome> _shared = new();
    private readonly Dictionary<string, Queue<ChaosOutcome>> _byCaller = new(StringComparer.Ordinal);

    public void Enqueue(string? caller, IEnumerable<ChaosOutcome> outcomes)
    {
        lock (_lock)
        {
            var queue = _shared;
            if (caller is not null && !_byCaller.TryGetValue(caller, out queue))
            {
                _byCaller[caller] = queue = new Queue<ChaosOutcome>();
            }

            foreach (var outcome in outcomes)
            {
                queue.Enqueue(outcome);
            }
        }
    }

    public ChaosOutcome? TryDequeue(string? caller)
    {
        lock (_lock)
        {
            if (caller is not null && _byCaller.TryGetValue(caller, out var own) && own.TryDequeue(out var mine))
            {
                if (own.Count == 0)
                {
                    _byCaller.Remove(caller);
                }

                return mine;
            }

            return _shared.TryDequeue(out var next) ? next : null;
        }
    }

    /// <summary>Clears one caller's queue, or every queue when <paramref name="caller"/> is null.</summary>
    public void Clear(string? caller)
    {
        lock (_lock)
        {
            if (caller is null)
            {
                _shared.Clear();
                _byCaller.Clear();
            }
            else
            {
                _byCaller.Remove(caller);
            }
        }
    }

    public ScriptSnapshot Snapshot(string? caller = null)
    {
        lock (_lock)
        {
            var callers = _byCaller
                .Where(entry => caller is null || entry.Key == caller)
                .OrderBy(entry => entry.Key, StringComparer.Ordinal)
                .ToDictionary(entry => entry.Key, entry => (IReadOnlyList<string>)[.. entry.Value.Select(o => o.Text)]);
            return new ScriptSnapshot([.. _shared.Select(o => o.Text)], callers);
        }
    }
}
