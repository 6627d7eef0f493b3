namespace AspireRetry.WebFrontend.Services;

// The ChatApi contract as the frontend reads it (camelCase JSON).

public sealed record ChatTurn(string Role, string Content);

public sealed record ModelsReply(IReadOnlyList<string> Models, string DefaultModel);

public sealed record UsageInfo(long? InputTokens, long? OutputTokens);

/// <summary>One event of <c>POST /api/chat/stream</c>.</summary>
public abstract record ChatStreamEvent;

public sealed record StartEvent(string? TraceId, string Model, int MaxAttempts) : ChatStreamEvent;

public sealed record AttemptEvent(int Number, string Outcome, int? StatusCode, string? Reason, long? DelayMs) : ChatStreamEvent
{
    /// <summary>The outcome of an <c>attempt</c> event that reports a wait at ChatApi's rate-limit gate.</summary>
    public const string RateLimitWait = "rate_limit_wait";
}

public sealed record DeltaEvent(string Text) : ChatStreamEvent;

public sealed record DoneEvent(int Attempts, string Model, UsageInfo? Usage, string? TraceId) : ChatStreamEvent;

public sealed record ErrorEvent(int Status, string Title, string Detail, long? RetryAfterMs, int Attempts, string? TraceId) : ChatStreamEvent;
