using AspireRetry.ChatApi.Chat;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>
/// What happened to one chat call's upstream attempts, as they happen. ChatService opens one per call
/// (it flows to the HttpClient pipeline through an AsyncLocal); the attempt handler and the retry
/// strategy report into it, and the caller hears each finished attempt with the wait before the next.
/// </summary>
public sealed class CallProgress(string model, Action<AttemptEvent>? onAttempt = null)
{
    private static readonly AsyncLocal<CallProgress?> CurrentCall = new();
    private readonly Lock _gate = new();
    private AttemptEvent? _pending;
    private int _attempts;

    public static CallProgress? Current => CurrentCall.Value;

    /// <summary>
    /// The model being called now (the fallback model once the call falls back). The resilience
    /// pipeline is chosen by it, so each model has its own breaker.
    /// </summary>
    public string Model { get; set; } = model;

    /// <summary>Attempts started so far, across models.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>Why the policy stopped early, when it did (e.g. a server wait beyond the budget).</summary>
    public string? StopReason { get; internal set; }

    /// <summary>The server's wait that made the policy stop early, passed on to the caller.</summary>
    public TimeSpan? StopRetryAfter { get; internal set; }

    /// <summary>Makes this the current call for the code that runs inside the returned scope.</summary>
    public IDisposable Enter()
    {
        var previous = CurrentCall.Value;
        CurrentCall.Value = this;
        return new Scope(() => CurrentCall.Value = previous);
    }

    internal int AttemptStarted() => Interlocked.Increment(ref _attempts);

    internal void AttemptEnded(int number, string outcome, int? statusCode)
    {
        var attempt = new AttemptEvent(number, outcome, statusCode, null, null);
        if (statusCode is >= 200 and < 300)
        {
            onAttempt?.Invoke(attempt);
            return;
        }

        // A failure is announced once we know whether, and after what wait, another attempt follows.
        lock (_gate)
        {
            _pending = attempt;
        }
    }

    internal void RetryScheduled(string reason, TimeSpan delay)
    {
        AttemptEvent announced;
        lock (_gate)
        {
            announced = (_pending ?? new AttemptEvent(Attempts, reason, null, null, null))
                with { Reason = reason, DelayMs = (long)delay.TotalMilliseconds };
            _pending = null;
        }

        onAttempt?.Invoke(announced);
    }

    /// <summary>
    /// The next attempt waits at the shared rate-limit gate for <paramref name="wait"/>: announced at once
    /// (the caller shows "Waiting for the rate limit to reset"), numbered as the attempt that waits.
    /// </summary>
    internal void RateLimitWait(TimeSpan wait) =>
        onAttempt?.Invoke(new AttemptEvent(Attempts + 1, RateLimitWaitOutcome, null, RateLimitWaitReason, (long)Math.Ceiling(wait.TotalMilliseconds)));

    public const string RateLimitWaitOutcome = "rate_limit_wait";
    public const string RateLimitWaitReason = "waiting for rate limit";

    /// <summary>Announces the last failed attempt, which no retry followed.</summary>
    public void Complete()
    {
        AttemptEvent? last;
        lock (_gate)
        {
            last = _pending;
            _pending = null;
        }

        if (last is not null)
        {
            onAttempt?.Invoke(last);
        }
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
