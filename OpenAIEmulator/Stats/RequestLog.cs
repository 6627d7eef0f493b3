using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.Stats;

/// <summary>The most recent model requests (a bounded ring), oldest first.</summary>
public sealed class RequestLog(IOptions<EmulatorOptions> options)
{
    private readonly Lock _lock = new();
    private readonly Queue<LoggedRequest> _entries = new();
    private readonly int _capacity = options.Value.RequestLogCapacity;
    private long _sequence;

    /// <summary>Appends the request, numbering it in arrival order (its <c>Sequence</c> is assigned here).</summary>
    public LoggedRequest Add(LoggedRequest request)
    {
        lock (_lock)
        {
            if (_entries.Count == _capacity)
            {
                _entries.Dequeue();
            }

            var numbered = request with { Sequence = ++_sequence };
            _entries.Enqueue(numbered);
            return numbered;
        }
    }

    /// <summary>The last <paramref name="limit"/> requests (of one caller, if given), in arrival order.</summary>
    public IReadOnlyList<LoggedRequest> Recent(string? caller, int limit)
    {
        lock (_lock)
        {
            var matching = _entries.Where(e => caller is null || e.Caller == caller).ToList();
            return matching[Math.Max(0, matching.Count - limit)..];
        }
    }

    /// <summary>Forgets one caller's entries, or all of them when <paramref name="caller"/> is null.</summary>
    public void Clear(string? caller)
    {
        lock (_lock)
        {
            var kept = caller is null ? [] : _entries.Where(e => e.Caller != caller).ToList();
            _entries.Clear();
            foreach (var entry in kept)
            {
                _entries.Enqueue(entry);
            }
        }
    }
}
