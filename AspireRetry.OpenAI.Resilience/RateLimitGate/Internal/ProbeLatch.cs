namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// While the limits are not known, one attempt (the probe) goes and the others wait for its answer. Not thread-safe:
/// the gate's lock guards it; the latch is released outside the lock (its waiters' continuations may run inline).
/// </summary>
internal sealed class ProbeLatch(bool probed)
{
    private TaskCompletionSource? _probe;

    /// <summary>A response (or a failed probe) has been seen: no more probing.</summary>
    public bool Done { get; private set; } = probed;

    /// <summary>True when the caller goes as the probe; otherwise <paramref name="answered"/> completes with the probe.</summary>
    public bool TryGo(out Task? answered)
    {
        if (_probe is null)
        {
            _probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            answered = null;
            return true;
        }

        answered = _probe.Task;
        return false;
    }

    /// <summary>Probing is over; returns what to release (outside the lock).</summary>
    public TaskCompletionSource? End()
    {
        Done = true;
        var probe = _probe;
        _probe = null;
        return probe;
    }
}
