using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary><c>responses</c>: the chat reply to the same conversation, as a Responses API response or event stream.</summary>
public sealed class ResponsesOperation(ResponsesWriter writer) : IModelOperation
{
    public string Name => "responses";

    public IReadOnlyList<string> ModelsIn(EmulatorOptions options) => options.Models;

    public async Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken)
    {
        var (request, error) = await ResponsesRequestParser.ParseAsync(body, deployment, cancellationToken);
        return request is null ? (null, error) : (new ResponsesCall(request, ReplyGenerator.Generate(request), writer), null);
    }

    private sealed record ResponsesCall(ChatCompletionRequest Request, Reply Reply, ResponsesWriter Writer) : IModelCall
    {
        public string Model => Request.Model;

        public bool Stream => Request.Stream;

        public int Tokens => Reply.TotalTokens;

        public Task WriteAsync(HttpContext context, ChaosDecision decision, CancellationToken cancellationToken) => Request.Stream
            ? Writer.WriteStreamAsync(context, Request, Reply, decision, cancellationToken)
            : Writer.WritePlainAsync(context, Request, Reply, decision, cancellationToken);
    }
}
