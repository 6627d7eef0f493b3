namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// A Responses API <c>response</c>. <paramref name="Status"/> is <c>in_progress</c> while streaming, then
/// <c>completed</c>, or <c>incomplete</c> when <c>max_output_tokens</c> cut the reply.
/// </summary>
public sealed record ResponseObject(
    string Id,
    string Object,
    long CreatedAt,
    string Status,
    object? Error,
    ResponseIncompleteDetails? IncompleteDetails,
    int? MaxOutputTokens,
    string Model,
    IReadOnlyList<ResponseMessage> Output,
    ResponseUsage? Usage);

public sealed record ResponseIncompleteDetails(string Reason);

/// <summary>The one output item: an assistant <c>message</c>.</summary>
public sealed record ResponseMessage(string Type, string Id, string Status, string Role, IReadOnlyList<ResponseOutputText> Content);

public sealed record ResponseOutputText(string Type, string Text, IReadOnlyList<object> Annotations);

public sealed record ResponseUsage(int InputTokens, ResponseInputTokensDetails InputTokensDetails, int OutputTokens, ResponseOutputTokensDetails OutputTokensDetails, int TotalTokens);

public sealed record ResponseInputTokensDetails(int CachedTokens);

public sealed record ResponseOutputTokensDetails(int ReasoningTokens);

/// <summary>One server-sent event of a streamed response; its <c>type</c> is also the SSE event name.</summary>
public interface IResponseEvent
{
    string Type { get; }
}

/// <summary><c>response.created</c>, <c>response.in_progress</c>, <c>response.completed</c>, <c>response.incomplete</c>.</summary>
public sealed record ResponseLifecycleEvent(string Type, int SequenceNumber, ResponseObject Response) : IResponseEvent;

/// <summary><c>response.output_item.added</c> and <c>.done</c>.</summary>
public sealed record ResponseOutputItemEvent(string Type, int SequenceNumber, int OutputIndex, ResponseMessage Item) : IResponseEvent;

/// <summary><c>response.content_part.added</c> and <c>.done</c>.</summary>
public sealed record ResponseContentPartEvent(string Type, int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, ResponseOutputText Part) : IResponseEvent;

public sealed record ResponseTextDeltaEvent(string Type, int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, string Delta) : IResponseEvent;

public sealed record ResponseTextDoneEvent(string Type, int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, string Text) : IResponseEvent;
