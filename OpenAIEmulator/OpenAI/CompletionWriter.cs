using AspireRetry.OpenAI.Resilience;
using System.Text.Json;
using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Writes a reply as a <c>chat.completion</c> or as server-sent <c>chat.completion.chunk</c>s,
/// paced like a model: headers and the first token after the first-token delay, then one token
/// per 1/tokensPerSecond. A plain reply is sent when the whole generation would have finished.
/// </summary>
public sealed class CompletionWriter(TimeProvider time)
{
    private const string Fingerprint = "fp_aspireretry";

    private static readonly TimeSpan MinimumCutDelay = TimeSpan.FromMilliseconds(100);

    public async Task WritePlainAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        var pacing = decision.Pacing;
        await DelayAsync(pacing.FirstTokenDelay + TokenGap(pacing) * Math.Max(0, reply.CompletionTokens - 1), cancellationToken);

        var completion = new ChatCompletionResponse(
            NewId(), "chat.completion", time.GetUtcNow().ToUnixTimeSeconds(), request.Model,
            [new ChatCompletionChoice(0, new AssistantMessage("assistant", reply.Text, null), null, reply.FinishReason)],
            Usage(reply), Fingerprint);
        context.Response.AddRateLimitHeaders(decision);
        await context.Response.WriteAsJsonAsync(completion, OpenAIJson.Options, cancellationToken);
    }

    public async Task WriteStreamAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        var pacing = decision.Pacing;
        await DelayAsync(pacing.FirstTokenDelay, cancellationToken);

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.AddRateLimitHeaders(decision);
        await response.StartAsync(cancellationToken);
        await response.Body.FlushAsync(cancellationToken);

        var id = NewId();
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        ChatCompletionChunk Chunk(ChunkDelta delta, string? finishReason) =>
            new(id, "chat.completion.chunk", created, request.Model, Fingerprint, [new ChunkChoice(0, delta, null, finishReason)], null);

        // Chunks: role, one per token, finish, usage (if asked), [DONE]. A disconnect is cut before
        // [DONE] at the latest, so it never looks like a completed stream.
        var chunkCount = reply.Tokens.Count + 3 + (request.IncludeUsage ? 1 : 0);
        var cutAfter = pacing.DisconnectAfterChunks is { } after ? Math.Min(after, chunkCount - 1) : int.MaxValue;
        var written = 0;

        async ValueTask<bool> SendAsync(object payload)
        {
            if (written == cutAfter)
            {
                // The connection drops while the next token is being generated. The floor gives the
                // client time to read what was sent: a reset that lands first discards unread bytes.
                await DelayAsync(TimeSpans.Max(TokenGap(pacing), MinimumCutDelay), cancellationToken);
                context.Abort();
                return false;
            }

            var data = payload as string ?? JsonSerializer.Serialize(payload, OpenAIJson.Options);
            await response.WriteAsync($"data: {data}\n\n", cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
            written++;
            return true;
        }

        if (!await SendAsync(Chunk(new ChunkDelta("assistant", ""), null)))
        {
            return;
        }

        var firstToken = time.GetTimestamp();
        for (var i = 0; i < reply.Tokens.Count; i++)
        {
            var due = TokenGap(pacing) * i - time.GetElapsedTime(firstToken);
            await DelayAsync(due, cancellationToken);
            if (!await SendAsync(Chunk(new ChunkDelta(null, reply.Tokens[i]), null)))
            {
                return;
            }
        }

        if (!await SendAsync(Chunk(new ChunkDelta(null, null), reply.FinishReason)))
        {
            return;
        }

        if (request.IncludeUsage && !await SendAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, request.Model, Fingerprint, [], Usage(reply))))
        {
            return;
        }

        await SendAsync("[DONE]");
    }

    private static ChatUsage Usage(Reply reply) => new(reply.PromptTokens, reply.CompletionTokens, reply.TotalTokens);

    private static TimeSpan TokenGap(StreamPacing pacing) =>
        pacing.TokensPerSecond > 0 ? TimeSpan.FromSeconds(1 / pacing.TokensPerSecond) : TimeSpan.Zero;

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    private Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        delay > TimeSpan.Zero ? Task.Delay(delay, time, cancellationToken) : Task.CompletedTask;
}
