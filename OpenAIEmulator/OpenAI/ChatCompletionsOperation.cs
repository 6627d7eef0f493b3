namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary><c>chat/completions</c>: the generated reply as a <c>chat.completion</c> or its chunks.</summary>
public sealed class ChatCompletionsOperation(CompletionWriter writer) : IModelOperation
{
    public string Name => "chat.completions";

    public IReadOnlyList<string> ModelsIn(EmulatorOptions options) => options.Models;

    public async Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken)
    {
        var (request, error) = await ChatRequestParser.ParseAsync(body, deployment, cancellationToken);
        return request is null ? (null, error) : (ReplyCall.For(request, writer), null);
    }
}
