using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Protection;

/// <summary>
/// Section <c>Chat:Limits</c>: how big a chat request may be. Every limit is checked before any upstream
/// call, so an oversized conversation costs nothing but a 400 or 413 that names the limit.
/// </summary>
public sealed class ChatLimitsOptions
{
    public const string SectionName = "Chat:Limits";

    /// <summary>Messages in one request: a long conversation, far below what a model's context holds anyway.</summary>
    public int MaxMessages { get; set; } = 100;

    /// <summary>Characters in one message: about 8,000 tokens, a long document pasted in.</summary>
    public int MaxMessageLength { get; set; } = 32_000;

    /// <summary>Characters in all messages together: about 32,000 tokens, what gpt-4o-mini answers cheaply.</summary>
    public int MaxConversationLength { get; set; } = 128_000;

    /// <summary>Bytes of the request body: the conversation limit in UTF-8 plus JSON, and not a byte more read.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1_048_576;
}

internal sealed class ChatLimitsOptionsValidator : IValidateOptions<ChatLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatLimitsOptions o)
    {
        const string p = ChatLimitsOptions.SectionName;
        List<string> errors = [];
        if (o.MaxMessages < 1) errors.Add($"{p}:MaxMessages must be at least 1 (was {o.MaxMessages}).");
        if (o.MaxMessageLength < 1) errors.Add($"{p}:MaxMessageLength must be at least 1 (was {o.MaxMessageLength}).");
        if (o.MaxConversationLength < o.MaxMessageLength)
            errors.Add($"{p}:MaxConversationLength ({o.MaxConversationLength}) must be at least {p}:MaxMessageLength ({o.MaxMessageLength}).");
        if (o.MaxRequestBodyBytes < 1024) errors.Add($"{p}:MaxRequestBodyBytes must be at least 1024 (was {o.MaxRequestBodyBytes}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public static class ChatProtectionExtensions
{
    /// <summary>Request limits and admission control, both bound and validated at start-up.</summary>
    public static IServiceCollection AddChatProtection(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<ChatLimitsOptions>, ChatLimitsOptionsValidator>();
        services.AddOptions<ChatLimitsOptions>().BindConfiguration(ChatLimitsOptions.SectionName).ValidateOnStart();
        return services.AddChatRateLimiting();
    }
}
