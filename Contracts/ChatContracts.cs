namespace AspireRetry.Contracts;

// ChatApi's HTTP contract (JSON, camelCase), as ChatApi writes it and WebFrontend reads it.

/// <summary>Body of <c>POST /api/chat</c> and <c>POST /api/chat/stream</c>. Nullable throughout: ChatApi validates what arrives.</summary>
public sealed record ChatRequest(string? Model, IReadOnlyList<ChatMessageDto>? Messages);

public sealed record ChatMessageDto(string? Role, string? Content);

/// <summary>Reply of <c>POST /api/chat</c>. <see cref="Upstream"/> names the upstream that answered (absent from older ChatApis).</summary>
public sealed record ChatReply(string Content, string Model, int Attempts, string? TraceId, UsageDto? Usage, string? Upstream = null);

public sealed record UsageDto(long? InputTokens, long? OutputTokens);

/// <summary>The models a user may pick, from configuration.</summary>
public sealed record ModelsReply(IReadOnlyList<string> Models, string DefaultModel);

/// <summary>Request headers ChatApi reads.</summary>
public static class ChatApiHeaders
{
    /// <summary>Who "a client" is for ChatApi's admission rate limit: the chat page sends one key per open page.</summary>
    public const string Client = "X-Chat-Client";
}
