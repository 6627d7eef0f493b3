namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary><c>responses</c>: the chat reply to the same conversation, as a Responses API response or event stream.</summary>
public sealed class ResponsesOperation(ResponsesWriter writer) : IModelOperation
{
    public string Name => "responses";

    public IReadOnlyList<string> ModelsIn(EmulatorOptions options) => options.Models;

    public async Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken)
    {
        var (request, error) = await ResponsesRequestParser.ParseAsync(body, deployment, cancellationToken);
        return request is null ? (null, error) : (ReplyCall.For(request, writer), null);
    }
}
