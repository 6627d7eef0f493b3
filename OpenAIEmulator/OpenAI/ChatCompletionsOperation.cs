using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary><c>chat/completions</c>: the reply is generated before the decision, so the buckets can charge its tokens.</summary>
public sealed class ChatCompletionsOperation(CompletionWriter writer) : IModelOperation
{
    public string Name => "chat.completions";

    public IReadOnlyList<string> ModelsIn(EmulatorOptions options) => options.Models;

    public async Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken)
    {
        var (request, error) = await ChatRequestParser.ParseAsync(body, deployment, cancellationToken);
        return request is null ? (null, error) : (new ChatCall(request, ReplyGenerator.Generate(request), writer), null);
    }

    private sealed record ChatCall(ChatCompletionRequest Request, Reply Reply, CompletionWriter Writer) : IModelCall
    {
        public string Model => Request.Model;

        public bool Stream => Request.Stream;

        public int Tokens => Reply.TotalTokens;

        public Task WriteAsync(HttpContext context, ChaosDecision decision, CancellationToken cancellationToken) => Request.Stream
            ? Writer.WriteStreamAsync(context, Request, Reply, decision, cancellationToken)
            : Writer.WritePlainAsync(context, Request, Reply, decision, cancellationToken);
    }
}
