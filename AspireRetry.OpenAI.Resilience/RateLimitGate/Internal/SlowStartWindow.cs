namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Slow start, while the upstream has published no limits and not answered 429: at most a window of attempts in
/// flight, one more after each success, spread over the last round trip (as paced TCP spreads its slow start). Ended
/// for good by published limits, a 429 or reaching the maximum window. Not thread-safe: the gate's lock guards it.
/// </summary>
internal sealed class SlowStartWindow(int initialWindow, int maxWindow)
{
    private int _window = initialWindow;
    private int _inFlight;
    private TaskCompletionSource? _freed;
    private TimeSpan _roundTrip;
    private TimeSpan _nextStart;

    public bool Active { get; private set; } = initialWindow > 0 && initialWindow < maxWindow;

    public bool IsFull => _inFlight >= _window;

    /// <summary>Completes when a place in the window frees up.</summary>
    public Task PlaceFreed => (_freed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>
    /// The window's spacing still ahead of <paramref name="now"/>, when the caller can afford it; null otherwise (the
    /// spacing is our own caution, not a wait the upstream named: a call that cannot afford it goes now).
    /// </summary>
    public TimeSpan? SpacingWait(TimeSpan now, TimeSpan maxWait) =>
        _nextStart > now && _nextStart - now <= maxWait ? _nextStart - now : null;

    public void Enter(TimeSpan now)
    {
        _inFlight++;
        _nextStart = now + (_roundTrip / _window);
    }

    /// <summary>An attempt of the window ended; a success widens it by one and sets the round trip to spread over.</summary>
    public void Left(bool succeeded, TimeSpan roundTrip)
    {
        _inFlight--;
        if (succeeded)
        {
            _roundTrip = roundTrip;
        }

        if (succeeded && Active && ++_window >= maxWindow)
        {
            End();
        }
    }

    public void End() => Active = false;

    /// <summary>What to release so the calls waiting for a place ask again (outside the lock).</summary>
    public TaskCompletionSource? TakeFreed()
    {
        var freed = _freed;
        _freed = null;
        return freed;
    }

    public string Describe() => $"{_inFlight} of {_window} requests in flight";
}
