using System.Buffers;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// Writes a chat stream as server-sent events, byte for byte what <c>TypedResults.ServerSentEvents</c> writes
/// (the same headers, <c>event:</c> and <c>data:</c> lines, the same JSON), but straight into the response's
/// PipeWriter, and flushed only when the next event is not ready yet. An event that is the last one ready
/// (the start, an attempt, the first token) goes out at once; events that are ready together (the start and the
/// attempts before a reply, or the deltas of a reply longer than one delta's 16 chunks that arrived at once) go out
/// in one socket write instead of one each. Tokens ready together are already one delta (<see cref="ReplyDeltas"/>).
/// </summary>
internal sealed class ChatEventStreamResult(IAsyncEnumerable<SseItem<object>> events) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        httpContext.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();

        var options = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var body = response.BodyWriter;
        var cancellationToken = httpContext.RequestAborted;

        // One writer for the whole stream, pointed at the body again for each event. Never indented: a line
        // break inside the JSON would end the data line.
        await using var json = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = options.Encoder, SkipValidation = true });
        await using var source = events.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            var next = source.MoveNextAsync();
            if (!next.IsCompleted)
            {
                // Nothing more is ready: send what is written before waiting for it.
                await body.FlushAsync(cancellationToken);
            }

            if (!await next)
            {
                break;
            }

            Write(source.Current, body, json, options);
        }

        await body.FlushAsync(cancellationToken);
    }

    private static void Write(SseItem<object> item, PipeWriter body, Utf8JsonWriter json, JsonSerializerOptions options)
    {
        body.Write("event: "u8);
        Encoding.UTF8.GetBytes(item.EventType, body);
        body.Write("\ndata: "u8);
        if (item.Data is { } data)
        {
            json.Reset(body);
            JsonSerializer.Serialize(json, data, options.GetTypeInfo(data.GetType()));
            json.Flush();
        }

        body.Write("\n\n"u8);
    }
}
