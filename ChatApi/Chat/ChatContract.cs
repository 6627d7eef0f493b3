using System.Diagnostics;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace AspireRetry.ChatApi.Chat;

/// <summary>Between ChatApi's wire contract and Microsoft.Extensions.AI, both ways, for plain and streamed replies alike.</summary>
internal static class ChatContract
{
    public static List<AiChatMessage> ToMessages(this ChatRequest request) =>
        [.. request.Messages!.Select(m => new AiChatMessage(new AiChatRole(m.Role!), m.Content))];

    public static UsageDto? ToDto(this UsageDetails? usage) =>
        usage is null ? null : new UsageDto(usage.InputTokenCount, usage.OutputTokenCount);

    /// <summary>The trace the reply belongs to, for the caller to link to.</summary>
    public static string? TraceId() => Activity.Current?.TraceId.ToHexString();
}
