using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.Stats;

/// <summary>The most recent chat requests (a bounded ring), oldest first.</summary>
public sealed class RequestLog(IOptions<EmulatorOptions> options)
{
    private readonly Lock gate = new();
    private readonly Queue<LoggedRequest> entries = new();
    private readonly int capacity = options.Value.RequestLogCapacity;
    private long sequence;

    /// <summary>Appends the request, numbering it in arrival order (its <c>Sequence</c> is assigned here).</summary>
    public LoggedRequest Add(LoggedRequest request)
    {
        lock (gate)
        {
            if (entries.Count == capacity)
            {
                entries.Dequeue();
            }

            var numbered = request with { Sequence = ++sequence };
            entries.Enqueue(numbered);
            return numbered;
        }
    }

    /// <summary>The last <paramref name="limit"/> requests (of one caller, if given), in arrival order.</summary>
    public IReadOnlyList<LoggedRequest> Recent(string? caller, int limit)
    {
        lock (gate)
        {
            var matching = entries.Where(e => caller is null || e.Caller == caller).ToList();
            return matching[Math.Max(0, matching.Count - limit)..];
        }
    }

    /// <summary>Forgets one caller's entries, or all of them when <paramref name="caller"/> is null.</summary>
    public void Clear(string? caller)
    {
        lock (gate)
        {
            var kept = caller is null ? [] : entries.Where(e => e.Caller != caller).ToList();
            entries.Clear();
            foreach (var entry in kept)
            {
                entries.Enqueue(entry);
            }
        }
    }
}
