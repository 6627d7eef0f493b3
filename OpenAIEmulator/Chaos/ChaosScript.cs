namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>What is left of the scripts: the shared queue and each caller's own queue.</summary>
public sealed record ScriptSnapshot(IReadOnlyList<string> Outcomes, IReadOnlyDictionary<string, IReadOnlyList<string>> ByCaller);

/// <summary>
/// Exact outcome queues, one entry consumed per chat request. A caller's own queue is used first,
/// then the shared queue (entries posted without a caller apply to every request).
/// </summary>
public sealed class ChaosScript
{
    private readonly Lock gate = new();
    private readonly Queue<ChaosOutcome> shared = new();
    private readonly Dictionary<string, Queue<ChaosOutcome>> byCaller = new(StringComparer.Ordinal);

    public void Enqueue(string? caller, IEnumerable<ChaosOutcome> outcomes)
    {
        lock (gate)
        {
            var queue = shared;
            if (caller is not null && !byCaller.TryGetValue(caller, out queue))
            {
                byCaller[caller] = queue = new Queue<ChaosOutcome>();
            }

            foreach (var outcome in outcomes)
            {
                queue.Enqueue(outcome);
            }
        }
    }

    public ChaosOutcome? TryDequeue(string? caller)
    {
        lock (gate)
        {
            if (caller is not null && byCaller.TryGetValue(caller, out var own) && own.TryDequeue(out var mine))
            {
                if (own.Count == 0)
                {
                    byCaller.Remove(caller);
                }

                return mine;
            }

            return shared.TryDequeue(out var next) ? next : null;
        }
    }

    /// <summary>Clears one caller's queue, or every queue when <paramref name="caller"/> is null.</summary>
    public void Clear(string? caller)
    {
        lock (gate)
        {
            if (caller is null)
            {
                shared.Clear();
                byCaller.Clear();
            }
            else
            {
                byCaller.Remove(caller);
            }
        }
    }

    public ScriptSnapshot Snapshot(string? caller = null)
    {
        lock (gate)
        {
            var callers = byCaller
                .Where(entry => caller is null || entry.Key == caller)
                .OrderBy(entry => entry.Key, StringComparer.Ordinal)
                .ToDictionary(entry => entry.Key, entry => (IReadOnlyList<string>)[.. entry.Value.Select(o => o.Text)]);
            return new ScriptSnapshot([.. shared.Select(o => o.Text)], callers);
        }
    }
}
