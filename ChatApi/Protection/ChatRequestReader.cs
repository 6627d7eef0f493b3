using System.Buffers;
using System.Text.Json;

namespace AspireRetry.ChatApi.Protection;

/// <summary>
/// Reads a chat request body with every way it can be wrong answered in words: wrong content type (415),
/// too big (413, without reading past the limit), malformed or mistyped JSON (400 naming the field).
/// Model binding would answer these with a bare 400 or a 500; a person deserves the reason.
/// </summary>
public static class ChatRequestReader
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { MaxDepth = 16 };

    public static async Task<(ChatRequest? Request, IResult? Error)> ReadAsync(HttpContext http, ChatLimitsOptions limits, CancellationToken cancellationToken)
    {
        var request = http.Request;
        if (!request.HasJsonContentType())
        {
            return (null, Problems.Status(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Send the chat request as application/json (got '{request.ContentType ?? "no content type"}')."));
        }

        if (request.ContentLength > limits.MaxRequestBodyBytes)
        {
            return (null, TooLarge(limits));
        }

        // Pooled: a chat request is read on every message, and the body is copied out of it as it is deserialized.
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer(request.ContentLength, limits));
        try
        {
            var length = 0;
            try
            {
                // Read at most one byte past the limit: enough to know it is too big, never the whole of it.
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Min(buffer.Length * 2L, limits.MaxRequestBodyBytes + 1L), Array.MaxLength));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
                        buffer = larger;
                    }

                    var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                    if (length > limits.MaxRequestBodyBytes)
                    {
                        return (null, TooLarge(limits));
                    }
                }
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return (null, TooLarge(limits));
            }

            return length == 0
                ? (null, Problems.Invalid("body", "A JSON body { \"model\", \"messages\": [ { \"role\", \"content\" } ] } is required."))
                : Deserialize(buffer.AsSpan(0, length));
        }
        finally
        {
            // Cleared: the shared pool hands it to any other code of the process, and it holds a person's chat.
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>
    /// The body's length and one byte more (to see the end), within the limit and at most 16 KB: a declared length is the
    /// client's word, and a client that declares a megabyte and sends it slowly must not hold one per connection before it
    /// has sent it (the buffer doubles as the body comes). 4 KB when the length is not sent.
    /// </summary>
    private static int InitialBuffer(long? contentLength, ChatLimitsOptions limits) =>
        (int)Math.Min(Math.Min(contentLength is { } length ? length + 1 : 4096, limits.MaxRequestBodyBytes + 1L), 16 * 1024);

    private static (ChatRequest? Request, IResult? Error) Deserialize(ReadOnlySpan<byte> body)
    {
        try
        {
            return (JsonSerializer.Deserialize<ChatRequest>(body, Json), null);
        }
        catch (JsonException ex)
        {
            var field = Field(ex.Path);
            var where = ex.LineNumber is { } line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : "";

            // The reader's own failures (broken syntax, or nesting past MaxDepth) reach us wrapped: the
            // serializer rethrows them with the path, the reader's JsonException inside.
            var readerFailed = ex.InnerException is JsonException;
            if (readerFailed && NestsDeeperThanAllowed(body))
            {
                return (null, Problems.Invalid(field, $"JSON nested deeper than {Json.MaxDepth} levels is not accepted{where}."));
            }

            // A syntax error is the body's fault (as is a root of the wrong type); any other value of the
            // wrong type is the fault of the field at the path.
            return readerFailed || field == "body"
                ? (null, Problems.Invalid("body", $"The body is not valid JSON{(field is not "body" ? $" near {field}" : "")}{where}."))
                : (null, Problems.Invalid(field, $"This value has the wrong type{where}."));
        }
    }

    /// <summary>
    /// Whether a reader with no depth limit reaches <see cref="JsonSerializerOptions.MaxDepth"/> before any
    /// syntax error: then that limit, not the syntax, is what stopped the serializer.
    /// </summary>
    private static bool NestsDeeperThanAllowed(ReadOnlySpan<byte> json)
    {
        // Utf8JsonReader keeps its depth in a bit stack, not on the call stack: reading the (size-limited)
        // body without a depth limit is safe.
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = int.MaxValue });
        try
        {
            while (reader.Read())
            {
                // The serializer's reader refuses to open an object or array at depth MaxDepth.
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= Json.MaxDepth)
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // A syntax error came first.
        }

        return false;
    }

    private static IResult TooLarge(ChatLimitsOptions limits) =>
        Problems.Status(StatusCodes.Status413PayloadTooLarge, "Request body too large",
            $"The body is over the limit of {limits.MaxRequestBodyBytes} bytes ({ChatLimitsOptions.SectionName}:MaxRequestBodyBytes).");

    // "$.messages[0].content" -> "messages[0].content"; the root or nothing -> "body".
    private static string Field(string? path) =>
        path is null or "$" || !path.StartsWith("$.", StringComparison.Ordinal) ? "body" : path[2..];
}
