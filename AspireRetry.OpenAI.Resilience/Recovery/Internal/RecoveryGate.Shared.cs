namespace AspireRetry.OpenAI.Resilience;

/// <summary>The gate's side of the replicas' shared verdict (see <see cref="RecoveryController"/>).</summary>
internal sealed partial class RecoveryGate
{
    // With shared state: the state replicas share knows this gate's "down" (it was reported there, or came from there),
    // so a shared "up" is news and not a report still on its way.
    private bool _downShared;

    /// <summary>Whether the shared state knows of this gate's "down" (see <see cref="MarkDownShared"/>).</summary>
    public bool IsDownShared
    {
        get
        {
            lock (_lock)
            {
                return _downShared;
            }
        }
    }

    /// <summary>The shared state has heard of this gate's "down".</summary>
    public void MarkDownShared()
    {
        lock (_lock)
        {
            _downShared = _state != RecoveryState.Up;
        }
    }

    /// <summary>Another replica found the upstream down: wait as if this one had, with the shared next check.</summary>
    public void AdoptDown(TimeSpan nextCheckIn) => DownFor(nextCheckIn, from: RecoveryState.Up, shared: true);

    /// <summary>Another replica's check (or call) found the upstream up: release the waiting calls, when the shared state knew it down.</summary>
    public void AdoptUp()
    {
        lock (_lock)
        {
            if (_state == RecoveryState.Up || !_downShared)
            {
                return;
            }
        }

        Up();
    }

    /// <summary>Another replica holds the check (or it is not due on the shared clock): ask again after <paramref name="retryIn"/>.</summary>
    public void CheckDeferred(TimeSpan retryIn) => DownFor(retryIn, from: RecoveryState.Checking, shared: null);

    /// <summary>Down, the next check due in <paramref name="checkIn"/>, when the gate is in state <paramref name="from"/>; <paramref name="shared"/> sets whether the shared state knows it (null: unchanged).</summary>
    private void DownFor(TimeSpan checkIn, RecoveryState from, bool? shared)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_state != from)
            {
                return;
            }

            _state = RecoveryState.Down;
            _checkAt = Now + checkIn;
            _downShared = shared ?? _downShared;
            changed = PulseLocked();
        }

        changed.TrySetResult();
    }
}
