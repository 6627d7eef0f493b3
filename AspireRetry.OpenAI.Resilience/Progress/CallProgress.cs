using System.Diagnostics;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One report of a call's progress. For an attempt that failed and is followed by another, it comes once
/// the retry is scheduled, with <see cref="Reason"/> and the <see cref="Delay"/> before the next attempt.
/// A wait at the shared rate-limit gate is reported too, before the attempt that waits, with
/// <see cref="Outcome"/> = <see cref="RetryTelemetryConstants.Outcomes.RateLimitWait"/>, and so is a wait for a
/// down upstream to recover, with <see cref="Outcome"/> = <see cref="RetryTelemetryConstants.Outcomes.RecoveryWait"/>.
/// </summary>
/// <param name="Number">The attempt's number within the call, across models (1, 2, ...).</param>
/// <param name="Outcome">"ok", the HTTP status ("429", "503"), a failure ("attempt timeout", "connection reset"), "rate_limit_wait" or "recovery_wait".</param>
/// <param name="StatusCode">The upstream's HTTP status, when it answered.</param>
/// <param name="Reason">Why another attempt follows ("429 rate_limit_exceeded"), when one does.</param>
/// <param name="Delay">The wait before the next attempt, when one follows; null on the last attempt.</param>
public sealed record AttemptReport(int Number, string Outcome, int? StatusCode, string? Reason, TimeSpan? Delay)
{
    /// <summary>
    /// When the call leaves this upstream for the next (failover): the upstream it goes to now (e.g. <c>openai-2</c>). The
    /// report is then the failed attempt, or, when the upstream's gate or breaker let nothing through, one with
    /// <see cref="Outcome"/> = <see cref="RetryTelemetryConstants.Outcomes.Failover"/>; <see cref="Reason"/> says why it left.
    /// </summary>
    public string? FailoverTo { get; init; }

    /// <summary>With <see cref="FailoverTo"/>: the upstream the call left (e.g. <c>openai</c>).</summary>
    public string? FailoverFrom { get; init; }
}

/// <summary>
/// Observes one call through the retry layer, as it happens: each finished attempt with the wait before
/// the next, waits at the rate-limit gate, and why the layer stopped early when it did.
/// </summary>
/// <remarks>
/// Create one per call and run the call inside <see cref="Enter"/>: the scope flows (as an
/// <see cref="AsyncLocal{T}"/>) through Microsoft.Extensions.AI and the OpenAI SDK to the HttpClient's
/// pipeline, which reports into it. <paramref name="onAttempt"/> is invoked synchronously, in order, on
/// the pipeline's thread: keep it short (write to a channel, say). Leaving the scope completes the call (the last
/// failed attempt, which no retry followed, is heard then); <see cref="Complete"/> does it sooner, e.g. at a stream's
/// first token. It only observes: the client the call is made on decides the model, the upstream and so the pipeline
/// (its circuit breaker and gate), and <see cref="Model"/> and <see cref="Upstream"/> say what they were.
/// </remarks>
/// <param name="model">The model the caller means to call, until the call starts and the client's model replaces it.</param>
/// <param name="onAttempt">Hears each <see cref="AttemptReport"/>; null to only count.</param>
public sealed class CallProgress(string model, Action<AttemptReport>? onAttempt = null)
{
    private static readonly AsyncLocal<CallProgress?> CurrentCall = new();
    private readonly Lock _lock = new();
    private AttemptReport? _pending;
    private int _attempts;

    /// <summary>The call that the code running now belongs to, if any.</summary>
    internal static CallProgress? Current => CurrentCall.Value;

    /// <summary>
    /// The model called: the caller's intent until the call starts, then the model of the client it was made on (a
    /// fallback to another model's client shows here). Setting it chooses nothing: the client does.
    /// </summary>
    public string Model { get; set; } = model;

    /// <summary>
    /// The upstream (its connection string's name, e.g. <c>openai</c>, <c>openai-2</c>) being called now; once the call
    /// has ended, the one that answered. Null before the first attempt, and with a single unnamed upstream.
    /// </summary>
    public string? Upstream { get; private set; }

    /// <summary>Attempts started so far, across models.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>Why the layer stopped before its attempts were used up, when it did (a server wait beyond the budget, a spent retry budget).</summary>
    public string? StopReason { get; private set; }

    /// <summary>The server's wait that made the layer stop early, to pass on to the caller (as Retry-After).</summary>
    public TimeSpan? StopRetryAfter { get; private set; }

    /// <summary>Makes this the current call for the code that runs inside the returned scope.</summary>
    /// <remarks>Disposing the scope completes the call (see <see cref="Complete"/>).</remarks>
    public IDisposable Enter()
    {
        var previous = CurrentCall.Value;
        CurrentCall.Value = this;
        return new Scope(() =>
        {
            Complete();
            CurrentCall.Value = previous;
        });
    }

    /// <summary>
    /// Makes this the current call for the code that runs inside the returned scope, as <see cref="Enter"/> does, but
    /// leaving the scope does not complete the call: for a stream whose enumerator is started inside the scope (the scope
    /// flows into it) and read after it. Leaving <see cref="Enter"/>'s scope there would complete the call while its first
    /// attempt may be failing on another thread, and announce that attempt before its retry's wait is known (then again
    /// with it). Call <see cref="Complete"/> at the stream's first token, or when it ends without one.
    /// </summary>
    public IDisposable Flow()
    {
        var previous = CurrentCall.Value;
        CurrentCall.Value = this;
        return new Scope(() => CurrentCall.Value = previous);
    }

    /// <summary>A client's call scope started the call on <paramref name="model"/>.</summary>
    internal void Called(string model) => Model = model;

    /// <summary>
    /// The call's chat span (the GenAI span the client's telemetry opened for it), once it has been routed; null before,
    /// or when the client has no telemetry (then it is whatever span the caller had). A caller that reads a stream update
    /// by update can make it current around its reads: the telemetry sets it again after every update, which then costs
    /// nothing (setting it over another span allocates each time).
    /// </summary>
    public Activity? Span { get; private set; }

    /// <summary>The failover sent this pass to <paramref name="upstream"/> (under the call's chat span, when it has one).</summary>
    internal void Routed(string upstream)
    {
        Upstream = upstream;
        Span = Activity.Current;
    }

    /// <summary>Reports the last failed attempt, which no retry followed. Call it once the call has ended (or its first token arrived).</summary>
    public void Complete()
    {
        if (TakePending() is { } last)
        {
            onAttempt?.Invoke(last);
        }
    }

    /// <summary>Written by the attempt handler only.</summary>
    internal int AttemptStarted() => Interlocked.Increment(ref _attempts);

    /// <summary>Written by the attempt handler only.</summary>
    internal void AttemptEnded(int number, string outcome, int? statusCode)
    {
        var attempt = new AttemptReport(number, outcome, statusCode, null, null);
        if (statusCode is >= 200 and < 300)
        {
            onAttempt?.Invoke(attempt);
            return;
        }

        // A failure is announced once we know whether, and after what wait, another attempt follows.
        lock (_lock)
        {
            _pending = attempt;
        }
    }

    /// <summary>Written by the retry strategy's OnRetry only.</summary>
    internal void RetryScheduled(string reason, TimeSpan delay) =>
        onAttempt?.Invoke((TakePending() ?? new AttemptReport(Attempts, reason, null, null, null)) with { Reason = reason, Delay = delay });

    /// <summary>
    /// Written by the failover only: the attempt that failed is announced with the failover as its reason, no wait and
    /// <see cref="AttemptReport.FailoverTo"/>; a pass the upstream's gate or breaker refused sent none, and is announced
    /// as a <see cref="RetryTelemetryConstants.Outcomes.Failover"/> report.
    /// </summary>
    internal void FailedOver(string from, string to, string reason)
    {
        var report = TakePending() ?? new AttemptReport(Attempts, RetryTelemetryConstants.Outcomes.Failover, null, null, null);
        onAttempt?.Invoke(report with { Reason = reason, Delay = TimeSpan.Zero, FailoverFrom = from, FailoverTo = to });
    }

    /// <summary>The failed attempt not yet announced, if any; it is announced once, by whoever takes it.</summary>
    private AttemptReport? TakePending()
    {
        lock (_lock)
        {
            var pending = _pending;
            _pending = null;
            return pending;
        }
    }

    /// <summary>
    /// Written by the gate strategy only: the next attempt waits at the gate, announced at once and
    /// numbered as the attempt that waits. The wait is rounded up to the millisecond.
    /// </summary>
    internal void RateLimitWait(TimeSpan wait) =>
        onAttempt?.Invoke(new AttemptReport(Attempts + 1, RetryTelemetryConstants.Outcomes.RateLimitWait, null,
            RetryTelemetryConstants.Outcomes.RateLimitWaitReason, TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds))));

    /// <summary>
    /// Written by the recovery strategy only: the upstream is down and the next attempt waits for its next
    /// check, <paramref name="nextCheck"/> from now (zero: a check is under way). A failed attempt not yet
    /// announced (the check that failed) is announced first, with no delay: no retry of its own follows it.
    /// </summary>
    internal void RecoveryWait(TimeSpan nextCheck)
    {
        Complete();
        onAttempt?.Invoke(new AttemptReport(Attempts + 1, RetryTelemetryConstants.Outcomes.RecoveryWait, null,
            RetryTelemetryConstants.Outcomes.RecoveryWaitReason, TimeSpan.FromMilliseconds(Math.Ceiling(nextCheck.TotalMilliseconds))));
    }

    /// <summary>Written by the retry strategy's decision only (ShouldRetryAsync); the gate's rejection travels as its exception.</summary>
    internal void Stopped(string reason, TimeSpan? retryAfter)
    {
        StopReason = reason;
        StopRetryAfter = retryAfter ?? StopRetryAfter;
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
