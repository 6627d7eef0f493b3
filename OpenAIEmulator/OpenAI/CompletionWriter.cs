using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Writes a reply as a <c>chat.completion</c> or as server-sent <c>chat.completion.chunk</c>s,
/// paced like a model: headers and the first token after the first-token delay, then one token
/// per 1/tokensPerSecond. A plain reply is sent when the whole generation would have finished.
/// </summary>
public sealed class CompletionWriter(TimeProvider time) : IReplyWriter
{
    private const string Fingerprint = "fp_aspireretry";

    public async Task WritePlainAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        await time.DelayAsync(decision.Pacing.PlainDelay(reply.CompletionTokens), cancellationToken);

        var completion = new ChatCompletionResponse(
            NewId(), "chat.completion", time.GetUtcNow().ToUnixTimeSeconds(), request.Model,
            [new ChatCompletionChoice(0, new AssistantMessage("assistant", reply.Text, null), null, reply.FinishReason)],
            Usage(reply), Fingerprint);
        context.Response.AddRateLimitHeaders(decision);
        await context.Response.WriteAsJsonAsync(completion, OpenAIJson.Options, cancellationToken);
    }

    public async Task WriteStreamAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        // Chunks: role, one per token, finish, usage (if asked), [DONE].
        var chunkCount = reply.Tokens.Count + 3 + (request.IncludeUsage ? 1 : 0);
        var stream = await PacedEventStream.StartAsync(context, decision, chunkCount, time, cancellationToken);

        var id = NewId();
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        ChatCompletionChunk Chunk(ChunkDelta delta, string? finishReason) =>
            new(id, "chat.completion.chunk", created, request.Model, Fingerprint, [new ChunkChoice(0, delta, null, finishReason)], null);

        if (!await stream.SendAsync(Chunk(new ChunkDelta("assistant", ""), null)))
        {
            return;
        }

        for (var i = 0; i < reply.Tokens.Count; i++)
        {
            await stream.PaceTokenAsync(i);
            if (!await stream.SendAsync(Chunk(new ChunkDelta(null, reply.Tokens[i]), null)))
            {
                return;
            }
        }

        if (!await stream.SendAsync(Chunk(new ChunkDelta(null, null), reply.FinishReason)))
        {
            return;
        }

        if (request.IncludeUsage && !await stream.SendAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, request.Model, Fingerprint, [], Usage(reply))))
        {
            return;
        }

        await stream.SendAsync("[DONE]");
    }

    private static ChatUsage Usage(Reply reply) => new(reply.PromptTokens, reply.CompletionTokens, reply.TotalTokens);

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");
}
