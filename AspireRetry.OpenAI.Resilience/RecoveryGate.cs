namespace AspireRetry.OpenAI.Resilience;

/// <summary>What the gate knows about the upstream.</summary>
internal enum RecoveryState
{
    /// <summary>Calls go.</summary>
    Up,

    /// <summary>Down: calls wait for the next check.</summary>
    Down,

    /// <summary>Down, and one call's attempt is the check; the others wait for its outcome.</summary>
    Checking,
}

internal enum RecoveryDecisionKind
{
    /// <summary>The upstream is up: go.</summary>
    Go,

    /// <summary>Go as the check; report its outcome with <see cref="RecoveryGate.CheckEnded"/>.</summary>
    GoAsCheck,

    /// <summary>Wait for the next check (<see cref="RecoveryDecision.NextCheck"/>), or for <see cref="RecoveryDecision.Changed"/>.</summary>
    Wait,

    /// <summary>A check is under way: wait for <see cref="RecoveryDecision.Changed"/>.</summary>
    WaitForCheck,
}

/// <summary>What the gate decided for one pass of a call: go, go as the check, or wait (and how long until the next check).</summary>
internal readonly record struct RecoveryDecision(RecoveryDecisionKind Kind, TimeSpan NextCheck, Task Changed);

/// <summary>
/// Waiting for a down upstream to recover, shared by every call to one upstream and model. The upstream is down
/// when the circuit breaker opens (its failure ratio) or when a quarter of <c>MinimumThroughput</c> attempts in a
/// row failed with no success between (5 by default: noticed within a few requests, however many succeeded
/// before the outage). While it is down, calls wait and one at a time goes as the check: a quarter of
/// <c>BreakDuration</c> after it went down, then twice as long after each failed check, up to
/// <c>BreakDuration</c>, each up to 20% sooner at random so that replicas do not check together. A successful
/// check releases every waiting call at once (the rate-limit gate, further in, paces them).
/// Thread-safe; all times come from the <see cref="TimeProvider"/>, so it is testable on a fake clock.
/// </summary>
internal sealed class RecoveryGate
{
    private readonly Lock _lock = new();
    private readonly TimeSpan _longest;
    private readonly int _failuresInARow;
    private readonly TimeProvider _time;
    private readonly Func<double> _jitter;
    private readonly long _origin;
    private RecoveryState _state;
    private TimeSpan _checkAt;
    private int _failedChecks;
    private int _failures;
    private TaskCompletionSource _changed = NewSignal();

    /// <param name="options">The breaker's settings: <c>BreakDuration</c> and <c>MinimumThroughput</c>.</param>
    /// <param name="time">The clock.</param>
    /// <param name="jitter">A number in [0, 1) per check; random unless a test fixes it.</param>
    public RecoveryGate(CircuitBreakerOptions options, TimeProvider time, Func<double>? jitter = null)
    {
        _longest = options.BreakDuration;
        _failuresInARow = Math.Max(2, options.MinimumThroughput / 4);
        _time = time;
        _jitter = jitter ?? Random.Shared.NextDouble;
        _origin = time.GetTimestamp();
    }

    public RecoveryState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    private TimeSpan Now => _time.GetElapsedTime(_origin);

    /// <summary>
    /// The wait before the next check once <paramref name="failedChecks"/> checks have failed: a quarter of
    /// <paramref name="longest"/>, doubling, capped at it; <paramref name="jitter"/> (0 to 1) takes up to 20% off.
    /// </summary>
    public static TimeSpan Interval(int failedChecks, TimeSpan longest, double jitter) =>
        longest / 4 * Math.Pow(2, Math.Clamp(failedChecks, 0, 2)) * (1 - (0.2 * jitter));

    /// <summary>Decides one pass of a call.</summary>
    public RecoveryDecision Enter()
    {
        lock (_lock)
        {
            switch (_state)
            {
                case RecoveryState.Up:
                    return new(RecoveryDecisionKind.Go, TimeSpan.Zero, _changed.Task);
                case RecoveryState.Checking:
                    return new(RecoveryDecisionKind.WaitForCheck, TimeSpan.Zero, _changed.Task);
                default:
                    var wait = _checkAt - Now;
                    if (wait > TimeSpan.Zero)
                    {
                        return new(RecoveryDecisionKind.Wait, wait, _changed.Task);
                    }

                    _state = RecoveryState.Checking;
                    return new(RecoveryDecisionKind.GoAsCheck, TimeSpan.Zero, _changed.Task);
            }
        }
    }

    /// <summary>An attempt that was not the check ended: failures in a row take the upstream down.</summary>
    public void Observe(bool failed)
    {
        lock (_lock)
        {
            _failures = failed ? _failures + 1 : 0;
            if (_state != RecoveryState.Up || _failures < _failuresInARow)
            {
                return;
            }
        }

        Down();
    }

    /// <summary>The breaker opened (its failure ratio): the upstream is down, unless the gate knew already.</summary>
    public void BreakerOpened()
    {
        if (State == RecoveryState.Up)
        {
            Down();
        }
    }

    /// <summary>The check ended: up releases every waiting call; down waits longer for the next one.</summary>
    public void CheckEnded(bool up)
    {
        if (!up)
        {
            Down();
            return;
        }

        TaskCompletionSource changed;
        lock (_lock)
        {
            _state = RecoveryState.Up;
            _failedChecks = 0;
            _failures = 0;
            changed = Pulse();
        }

        changed.TrySetResult();
    }

    /// <summary>The check's caller went away before it ended (Stop): the next waiting call checks now.</summary>
    public void CheckAbandoned()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_state != RecoveryState.Checking)
            {
                return;
            }

            _state = RecoveryState.Down;
            _checkAt = Now;
            changed = Pulse();
        }

        changed.TrySetResult();
    }

    private void Down()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _state = RecoveryState.Down;
            _checkAt = Now + Interval(_failedChecks++, _longest, _jitter());
            changed = Pulse();
        }

        changed.TrySetResult();
    }

    private TaskCompletionSource Pulse()
    {
        var changed = _changed;
        _changed = NewSignal();
        return changed;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
