namespace AspireRetry.Contracts;

/// <summary>Names of the server-sent events of <c>POST /api/chat/stream</c>.</summary>
public static class ChatStreamEvents
{
    /// <summary>First event: the trace id of this call, so a client can link to it even if it stops early.</summary>
    public const string Start = "start";
    public const string Attempt = "attempt";
    public const string Delta = "delta";
    public const string Done = "done";
    public const string Error = "error";
}

/// <summary>One event of <c>POST /api/chat/stream</c>; its name is in <see cref="ChatStreamEvents"/>.</summary>
public abstract record ChatStreamEvent;

/// <summary>First event: the trace id of this call (so a client can link to it even if it stops early) and the attempt limit.</summary>
public sealed record StartEvent(string? TraceId, string Model, int MaxAttempts) : ChatStreamEvent;

/// <summary>
/// One upstream attempt finished. <see cref="DelayMs"/> is the wait before the next attempt when one
/// follows, null when this was the last one.
/// </summary>
/// <param name="FailoverTo">
/// The call left an upstream for this one (e.g. <c>openai-2</c>): this attempt failed there, or (outcome
/// <see cref="Failover"/>) its gate or breaker sent nothing; <see cref="Reason"/> says why. Absent from older ChatApis.
/// </param>
/// <param name="FailoverFrom">With <paramref name="FailoverTo"/>: the upstream it left.</param>
public sealed record AttemptEvent(int Number, string Outcome, int? StatusCode, string? Reason, long? DelayMs,
    string? FailoverTo = null, string? FailoverFrom = null) : ChatStreamEvent
{
    /// <summary>The <see cref="Outcome"/> of an event that reports a failover with no attempt sent (the upstream was down or its gate closed).</summary>
    public const string Failover = "failover";

    /// <summary>The <see cref="Outcome"/> of an event that reports a wait at ChatApi's rate-limit gate, not a failed attempt.</summary>
    public const string RateLimitWait = "rate_limit_wait";

    /// <summary>
    /// The <see cref="Outcome"/> of an event that reports a wait for the down upstream to recover, not a failed attempt:
    /// <see cref="DelayMs"/> is the time to its next check (0 while a check is under way).
    /// </summary>
    public const string RecoveryWait = "recovery_wait";
}

public sealed record DeltaEvent(string Text) : ChatStreamEvent;

/// <summary>The reply is complete. <see cref="Upstream"/> names the upstream that answered (absent from older ChatApis).</summary>
public sealed record DoneEvent(int Attempts, string Model, UsageDto? Usage, string? TraceId, string? Upstream = null) : ChatStreamEvent;

public sealed record ErrorEvent(int Status, string Title, string Detail, long? RetryAfterMs, int Attempts, string? TraceId) : ChatStreamEvent;
