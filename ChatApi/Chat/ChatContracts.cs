namespace AspireRetry.ChatApi.Chat;

/// <summary>Body of <c>POST /api/chat</c> and <c>POST /api/chat/stream</c>.</summary>
public sealed record ChatRequest(string? Model, IReadOnlyList<ChatMessageDto>? Messages);

public sealed record ChatMessageDto(string? Role, string? Content);

/// <summary>Reply of <c>POST /api/chat</c>.</summary>
public sealed record ChatReply(string Content, string Model, int Attempts, string? TraceId, UsageDto? Usage);

public sealed record UsageDto(long? InputTokens, long? OutputTokens);

/// <summary>The models a user may pick, from configuration.</summary>
public sealed record ModelsReply(IReadOnlyList<string> Models, string DefaultModel);

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

/// <summary>First event: the trace id of this call (so a client can link to it even if it stops early) and the attempt limit.</summary>
public sealed record StartEvent(string? TraceId, string Model, int MaxAttempts);

/// <summary>
/// One upstream attempt finished. <see cref="DelayMs"/> is the wait before the next attempt when one
/// follows, null when this was the last one.
/// </summary>
public sealed record AttemptEvent(int Number, string Outcome, int? StatusCode, string? Reason, long? DelayMs);

public sealed record DeltaEvent(string Text);

public sealed record DoneEvent(int Attempts, string Model, UsageDto? Usage, string? TraceId);

public sealed record ErrorEvent(int Status, string Title, string Detail, long? RetryAfterMs, int Attempts, string? TraceId);
