using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Writes a reply as a Responses API <c>response</c>, or as its server-sent events in OpenAI's order, each
/// with its <c>type</c> and <c>sequence_number</c>: created, in_progress, output_item.added,
/// content_part.added, one output_text.delta per token, output_text.done, content_part.done,
/// output_item.done, then completed (or incomplete). Paced and cut as chat streams are.
/// </summary>
public sealed class ResponsesWriter(TimeProvider time) : IReplyWriter
{
    // Four events open the stream before the deltas and four close it: a cut must know the total to land before the last.
    private const int FramingEvents = 8;

    public async Task WritePlainAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        await time.DelayAsync(decision.Pacing.PlainDelay(reply.CompletionTokens), cancellationToken);

        var response = new Draft(request, reply, time.GetUtcNow().ToUnixTimeSeconds()).Finished();
        context.Response.AddRateLimitHeaders(decision);
        await context.Response.WriteAsJsonAsync(response, OpenAIJson.Options, cancellationToken);
    }

    public async Task WriteStreamAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision, CancellationToken cancellationToken)
    {
        var stream = await PacedEventStream.StartAsync(context, decision, reply.Tokens.Count + FramingEvents, time, cancellationToken);
        var draft = new Draft(request, reply, time.GetUtcNow().ToUnixTimeSeconds());
        var itemId = draft.MessageId;
        var sequence = 0;

        IResponseEvent[] opening =
        [
            new ResponseLifecycleEvent("response.created", sequence++, draft.InProgress()),
            new ResponseLifecycleEvent("response.in_progress", sequence++, draft.InProgress()),
            new ResponseOutputItemEvent("response.output_item.added", sequence++, 0, draft.Message("in_progress", [])),
            new ResponseContentPartEvent("response.content_part.added", sequence++, itemId, 0, 0, new ResponseOutputText("output_text", "", [])),
        ];
        if (!await SendAllAsync(stream, opening))
        {
            return;
        }

        for (var i = 0; i < reply.Tokens.Count; i++)
        {
            await stream.PaceTokenAsync(i);
            if (!await SendAllAsync(stream, [new ResponseTextDeltaEvent("response.output_text.delta", sequence++, itemId, 0, 0, reply.Tokens[i])]))
            {
                return;
            }
        }

        var finished = draft.Finished();
        IResponseEvent[] closing =
        [
            new ResponseTextDoneEvent("response.output_text.done", sequence++, itemId, 0, 0, draft.Text.Text),
            new ResponseContentPartEvent("response.content_part.done", sequence++, itemId, 0, 0, draft.Text),
            new ResponseOutputItemEvent("response.output_item.done", sequence++, 0, finished.Output[0]),
            new ResponseLifecycleEvent(finished.Status == "completed" ? "response.completed" : "response.incomplete", sequence++, finished),
        ];
        await SendAllAsync(stream, closing);
    }

    /// <summary>Sends the events in order, named by their type; false once the stream has been cut.</summary>
    private static async Task<bool> SendAllAsync(PacedEventStream stream, IEnumerable<IResponseEvent> events)
    {
        foreach (var @event in events)
        {
            if (!await stream.SendAsync(@event, @event.Type))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The response as it stands before, and after, its reply is written.</summary>
    private sealed class Draft(ChatCompletionRequest request, Reply reply, long createdAt)
    {
        private readonly string _id = "resp_" + Guid.NewGuid().ToString("N");

        public string MessageId { get; } = "msg_" + Guid.NewGuid().ToString("N");

        public ResponseOutputText Text { get; } = new("output_text", reply.Text, []);

        private bool Truncated => reply.FinishReason == "length";

        public ResponseMessage Message(string status, IReadOnlyList<ResponseOutputText> content) => new("message", MessageId, status, "assistant", content);

        public ResponseObject InProgress() => Response("in_progress", null, [], null);

        public ResponseObject Finished() => Truncated
            ? Response("incomplete", new ResponseIncompleteDetails("max_output_tokens"), [Message("incomplete", [Text])], Usage())
            : Response("completed", null, [Message("completed", [Text])], Usage());

        private ResponseObject Response(string status, ResponseIncompleteDetails? incomplete, IReadOnlyList<ResponseMessage> output, ResponseUsage? usage) =>
            new(_id, "response", createdAt, status, null, incomplete, request.MaxTokens, request.Model, output, usage);

        private ResponseUsage Usage() => new(
            reply.PromptTokens, new ResponseInputTokensDetails(0), reply.CompletionTokens, new ResponseOutputTokensDetails(0), reply.TotalTokens);
    }
}
