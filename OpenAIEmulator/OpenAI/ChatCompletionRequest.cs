namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>One message with its text (array content parts are joined).</summary>
public sealed record ChatMessage(string Role, string Content, string? Name = null);

/// <summary>The parts of a chat completion request the emulator acts on.</summary>
public sealed record ChatCompletionRequest(
    string Model,
    IReadOnlyList<ChatMessage> Messages,
    bool Stream = false,
    bool IncludeUsage = false,
    int? MaxTokens = null,
    double? Temperature = null,
    string? User = null);
