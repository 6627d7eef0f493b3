namespace AspireRetry.OpenAI.Resilience;

/// <summary>The probe and the slow-start window: the first attempts while the upstream's limits are not known yet.</summary>
internal sealed partial class RateLimitGate
{
    /// <summary>
    /// An attempt let through by the slow-start window has its answer (or failed): its place is free, and a
    /// success (<paramref name="succeeded"/>, after <see cref="Observe"/> saw its headers) widens the window by one.
    /// <paramref name="roundTrip"/> is how long it took, over which the next window's attempts are spread.
    /// </summary>
    public void WindowAttemptEnded(bool succeeded, TimeSpan roundTrip = default)
    {
        lock (_lock)
        {
            _window.Left(succeeded, roundTrip);
        }

        WakeWindow();
    }

    /// <summary>The calls waiting for a place in the window ask again (outside the lock: their continuations may run inline).</summary>
    private void WakeWindow()
    {
        TaskCompletionSource? freed;
        lock (_lock)
        {
            freed = _window.TakeFreed();
        }

        freed?.TrySetResult();
    }

    /// <summary>
    /// The probe ended without telling the limits (a failure, no headers): the others go, within the slow-start
    /// window (all at once when it is off).
    /// </summary>
    public void ProbeEnded()
    {
        TaskCompletionSource? probe;
        lock (_lock)
        {
            probe = _probe.End();
        }

        probe?.TrySetResult();
    }
}
