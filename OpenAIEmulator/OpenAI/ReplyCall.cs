using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>Writes a generated reply in one API's shape: a chat completion, or a Responses API response.</summary>
public interface IReplyWriter
{
    Task WritePlainAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken);

    Task WriteStreamAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken);
}

/// <summary>
/// A conversation to answer with a generated reply, for chat completions and the Responses API alike: the reply is
/// generated before the decision, so the buckets can charge its prompt and completion tokens.
/// </summary>
public sealed record ReplyCall(ChatCompletionRequest Request, Reply Reply, IReplyWriter Writer) : IModelCall
{
    public string Model => Request.Model;

    public bool Stream => Request.Stream;

    public int Tokens => Reply.TotalTokens;

    public static ReplyCall For(ChatCompletionRequest request, IReplyWriter writer) => new(request, ReplyGenerator.Generate(request), writer);

    public Task WriteAsync(HttpContext context, ChaosDecision decision, CancellationToken cancellationToken) => Request.Stream
        ? Writer.WriteStreamAsync(context, Request, Reply, decision, cancellationToken)
        : Writer.WritePlainAsync(context, Request, Reply, decision, cancellationToken);
}
