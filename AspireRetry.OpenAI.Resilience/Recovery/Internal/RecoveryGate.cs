using Polly.CircuitBreaker;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Waiting for a down upstream to recover, shared by every call to one upstream and model. The upstream is down
/// when the circuit breaker opens (its failure ratio) or when a quarter of <c>MinimumThroughput</c> attempts in a
/// row failed with no success between (5 by default: noticed within a few requests, however many succeeded
/// before the outage). While it is down, calls wait and one at a time goes as the check: a quarter of
/// <c>BreakDuration</c> after it went down, then twice as long after each failed check, up to
/// <c>BreakDuration</c>, each up to 20% sooner at random so that replicas do not check together. A successful
/// check releases every waiting call at once (the rate-limit gate, further in, paces them), and so does a check that
/// has outlived the failures: a down upstream answers its refusals in about the same short time, so a check still
/// unanswered after three times the slowest of them (and at least <see cref="SignOfLifeFloor"/>) is being worked on, and the
/// waiting calls need not also wait for the model to finish it. Should the check fail after all, the upstream is down
/// again and the released calls meet it once more, as any call would.
/// Thread-safe: one lock guards its state; private members ending in <c>Locked</c> run under it. All times come from the <see cref="TimeProvider"/>, so it is testable on a fake clock.
/// </summary>
internal sealed partial class RecoveryGate
{
    /// <summary>
    /// The least a check must be under way before it counts as a sign of life: above timer resolution, so that
    /// failures answered within a millisecond do not make every check one.
    /// </summary>
    internal static readonly TimeSpan SignOfLifeFloor = TimeSpan.FromMilliseconds(25);

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
    private TimeSpan _slowestFailure;
    private TimeSpan _checkStartedAt;
    // The check under way can no longer release anyone early: the breaker lets only it through, or a call let go
    // early has failed (the upstream is still down, and the check is just slow).
    private bool _noSignOfLife;
    private bool _releasedOnSignOfLife;
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

    /// <summary>The circuit breaker's manual control, for closing it when a check shows a sign of life.</summary>
    public CircuitBreakerManualControl Breaker { get; } = new();

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

    /// <summary>While down: how long until the next check is due (zero when it is due, or the upstream is up).</summary>
    public TimeSpan NextCheckIn
    {
        get
        {
            lock (_lock)
            {
                return _state == RecoveryState.Up || _checkAt <= Now ? TimeSpan.Zero : _checkAt - Now;
            }
        }
    }

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
                case RecoveryState.Checking when _slowestFailure > TimeSpan.Zero && !_noSignOfLife:
                    // Three times the slowest failure: on a busy machine a refusal can come twice as slow as the others.
                    var signOfLife = _checkStartedAt + TimeSpans.Max(_slowestFailure * 3, SignOfLifeFloor) - Now;
                    if (signOfLife > TimeSpan.Zero)
                    {
                        return new(RecoveryDecisionKind.WaitForCheck, signOfLife, _changed.Task);
                    }

                    var first = !_releasedOnSignOfLife;
                    _releasedOnSignOfLife = true;
                    return new(RecoveryDecisionKind.Go, TimeSpan.Zero, _changed.Task, CloseBreaker: first);
                case RecoveryState.Checking:
                    return new(RecoveryDecisionKind.WaitForCheck, TimeSpan.MaxValue, _changed.Task);
                default:
                    var wait = _checkAt - Now;
                    if (wait > TimeSpan.Zero)
                    {
                        return new(RecoveryDecisionKind.Wait, wait, _changed.Task);
                    }

                    _state = RecoveryState.Checking;
                    _checkStartedAt = Now;
                    _noSignOfLife = false;
                    _releasedOnSignOfLife = false;
                    return new(RecoveryDecisionKind.GoAsCheck, TimeSpan.Zero, _changed.Task);
            }
        }
    }

    /// <summary>
    /// An attempt that was not the check ended after <paramref name="took"/>: failures in a row take the upstream down, and
    /// a success (of a call let go while a check was under way) proves it up.
    /// </summary>
    public void Observe(bool failed, TimeSpan took)
    {
        lock (_lock)
        {
            if (!failed)
            {
                _failures = 0;
                _slowestFailure = TimeSpan.Zero;
                if (_state == RecoveryState.Up)
                {
                    return;
                }
            }
            else
            {
                NoteFailureLocked(took);
                _noSignOfLife |= _state == RecoveryState.Checking;
                if (_state != RecoveryState.Up || _failures < _failuresInARow)
                {
                    return;
                }
            }
        }

        if (failed)
        {
            Down();
        }
        else
        {
            Up();
        }
    }

    /// <summary>
    /// The breaker opened (its failure ratio) or turned a call back: the upstream is down, unless the gate knew already.
    /// While a check is under way the breaker lets only the check through, so no call goes early on a sign of life.
    /// </summary>
    public void BreakerOpened()
    {
        lock (_lock)
        {
            if (_state == RecoveryState.Checking)
            {
                _noSignOfLife = true;
            }

            if (_state != RecoveryState.Up)
            {
                return;
            }
        }

        Down();
    }

    /// <summary>
    /// The check ended after <paramref name="took"/>: up releases every waiting call; down waits longer for the next one,
    /// unless a call let go meanwhile has already proved the upstream up (then it is one failure among others).
    /// </summary>
    public void CheckEnded(bool up, TimeSpan took)
    {
        if (up)
        {
            Up();
            return;
        }

        lock (_lock)
        {
            if (_state == RecoveryState.Up)
            {
                NoteFailureLocked(took);
                return;
            }

            _slowestFailure = TimeSpans.Max(_slowestFailure, took);
        }

        Down();
    }

    /// <summary>One more failure in a row, and how long the slowest of them took (under the lock).</summary>
    private void NoteFailureLocked(TimeSpan took)
    {
        _failures++;
        _slowestFailure = TimeSpans.Max(_slowestFailure, took);
    }

    private void Up()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _state = RecoveryState.Up;
            _downShared = false;
            _failedChecks = 0;
            _failures = 0;
            _slowestFailure = TimeSpan.Zero;
            changed = PulseLocked();
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
            changed = PulseLocked();
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
            _downShared = false;
            changed = PulseLocked();
        }

        changed.TrySetResult();
    }

    private TaskCompletionSource PulseLocked()
    {
        var changed = _changed;
        _changed = NewSignal();
        return changed;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
