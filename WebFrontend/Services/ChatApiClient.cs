using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Polly;
using Polly.Retry;

namespace AspireRetry.WebFrontend.Services;

/// <summary>
/// The one client for ChatApi. No retries of a chat here, on purpose: ChatApi's "openai" client is the only
/// retry layer, and retrying the chat POST would multiply every upstream attempt. Only the models, read while ChatApi
/// may still be starting, wait for it to listen.
/// </summary>
public sealed class ChatApiClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>
    /// The AppHost starts this frontend as soon as ChatApi's process has started, not once it answers, so a page opened in
    /// the first second may ask before ChatApi listens: the models (a read, nothing upstream) are asked again every 100 ms
    /// while the connection is refused, for up to 10 s. Nothing else here is retried.
    /// </summary>
    private static readonly ResiliencePipeline WhileChatApiStarts = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>(e => e.HttpRequestError == HttpRequestError.ConnectionError),
            BackoffType = DelayBackoffType.Constant,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxRetryAttempts = 100,
        })
        .Build();

    public async Task<ModelsReply> GetModelsAsync(CancellationToken cancellationToken = default) =>
        await WhileChatApiStarts.ExecuteAsync(async ct => await http.GetFromJsonAsync<ModelsReply>("/api/models", Json, ct), cancellationToken)
        ?? throw new InvalidOperationException("ChatApi returned no models.");

    /// <summary>Streams one reply; ends after a done or error event, or when cancelled (which cancels the upstream call).</summary>
    public IAsyncEnumerable<ChatStreamEvent> StreamAsync(string model, IReadOnlyList<ChatTurn> messages, CancellationToken cancellationToken = default) =>
        StreamAsync(model, messages, caller: null, cancellationToken);

    /// <summary>
    /// As above, tagged with a caller key: W3C baggage <c>emulator.caller</c>, which OpenTelemetry carries
    /// through ChatApi to the emulator, so chaos scripted for this page applies to this page's messages only.
    /// </summary>
    public async IAsyncEnumerable<ChatStreamEvent> StreamAsync(string model, IReadOnlyList<ChatTurn> messages, string? caller,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/chat/stream")
        {
            Content = JsonContent.Create(new ChatRequest(model, messages), options: Json),
        };
        if (caller is not null)
        {
            request.Headers.Add("baggage", $"emulator.caller={Uri.EscapeDataString(caller)}");
            request.Headers.Add(ChatApiHeaders.Client, caller); // ChatApi's rate limit counts per page, not for the whole frontend
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            yield return await ProblemAsync(response, cancellationToken);
            yield break;
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
        {
            if (Parse(item) is { } e)
            {
                yield return e;
            }
        }
    }

    private static ChatStreamEvent? Parse(SseItem<string> item) => item.EventType switch
    {
        ChatStreamEvents.Start => JsonSerializer.Deserialize<StartEvent>(item.Data, Json),
        ChatStreamEvents.Attempt => JsonSerializer.Deserialize<AttemptEvent>(item.Data, Json),
        ChatStreamEvents.Delta => JsonSerializer.Deserialize<DeltaEvent>(item.Data, Json),
        ChatStreamEvents.Done => JsonSerializer.Deserialize<DoneEvent>(item.Data, Json),
        ChatStreamEvents.Error => JsonSerializer.Deserialize<ErrorEvent>(item.Data, Json),
        _ => null, // Unknown events are ignored, so ChatApi can add some without breaking this page.
    };

    private static async Task<ErrorEvent> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Json, cancellationToken);
            var title = problem.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() : null;
            if (problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                detail = string.Join(" ", errors.EnumerateObject().SelectMany(e => e.Value.EnumerateArray().Select(v => $"{e.Name}: {v.GetString()}")));
            }

            long? retryAfterMs = problem.TryGetProperty("retryAfterMs", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetInt64() : null;
            return new ErrorEvent(status, title ?? $"ChatApi answered {status}", detail ?? "", retryAfterMs, 0, null);
        }
        catch (JsonException)
        {
            return new ErrorEvent(status, $"ChatApi answered {status}", "The response was not a problem description.", null, 0, null);
        }
    }
}
