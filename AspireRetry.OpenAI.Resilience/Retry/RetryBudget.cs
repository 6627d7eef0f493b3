namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// A retry budget over a sliding window (Envoy's budget_percent, Finagle's RetryBudget): each call's
/// first attempt earns <see cref="RetryBudgetOptions.Ratio"/> of a retry, each retry spends one, and
/// <see cref="RetryBudgetOptions.MinRetriesPerSecond"/> are always allowed. During a long outage the
/// retries dry up, so the upstream sees about one request per call instead of MaxRetryAttempts + 1.
/// </summary>
internal sealed class RetryBudget
{
    // The window slides in tenths: coarse enough to be cheap, fine enough that a burst ages out smoothly.
    private const int Slots = 10;

    private readonly Lock _lock = new();
    private readonly RetryBudgetOptions _options;
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly TimeSpan _slotLength;
    private readonly (long Slot, int Requests, int Retries)[] _slots = new (long, int, int)[Slots];

    public RetryBudget(RetryBudgetOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _origin = time.GetTimestamp();
        _slotLength = options.Window / Slots;
        for (var i = 0; i < Slots; i++)
        {
            _slots[i].Slot = -1;
        }
    }

    /// <summary>A call's first attempt went out.</summary>
    public void RecordRequest()
    {
        lock (_lock)
        {
            Current().Requests++;
        }
    }

    /// <summary>Takes one retry from the budget; false (and nothing taken) when it is spent.</summary>
    public bool TryRetry()
    {
        lock (_lock)
        {
            var (requests, retries) = Totals();
            if (retries + 1 > Allowed(requests))
            {
                return false;
            }

            Current().Retries++;
            return true;
        }
    }

    /// <summary>Requests and retries in the window, and how many retries it allows: for the trace and the error.</summary>
    public (int Requests, int Retries, int Allowed) Snapshot()
    {
        lock (_lock)
        {
            var (requests, retries) = Totals();
            return (requests, retries, (int)Allowed(requests));
        }
    }

    private double Allowed(int requests) =>
        Math.Floor((_options.Ratio * requests) + (_options.MinRetriesPerSecond * _options.Window.TotalSeconds));

    private ref (long Slot, int Requests, int Retries) Current()
    {
        var slot = SlotNow();
        ref var entry = ref _slots[slot % Slots];
        if (entry.Slot != slot)
        {
            entry = (slot, 0, 0);
        }

        return ref entry;
    }

    private (int Requests, int Retries) Totals()
    {
        var now = SlotNow();
        int requests = 0, retries = 0;
        foreach (var (slot, req, ret) in _slots)
        {
            if (slot >= 0 && now - slot < Slots)
            {
                requests += req;
                retries += ret;
            }
        }

        return (requests, retries);
    }

    private long SlotNow() => (long)(_time.GetElapsedTime(_origin) / _slotLength);
}
