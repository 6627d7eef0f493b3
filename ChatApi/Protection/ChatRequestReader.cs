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

        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            // Read at most one byte past the limit: enough to know it is too big, never the whole of it.
            while (true)
            {
                var memory = buffer.GetMemory(8192);
                var read = await request.Body.ReadAsync(memory, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limits.MaxRequestBodyBytes)
                {
                    return (null, TooLarge(limits));
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(limits));
        }

        if (buffer.WrittenCount == 0)
        {
            return (null, Problems.Invalid("body", "A JSON body { \"model\", \"messages\": [ { \"role\", \"content\" } ] } is required."));
        }

        try
        {
            return (JsonSerializer.Deserialize<ChatRequest>(buffer.WrittenSpan, Json), null);
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : "";
            if (ex.Message.Contains("maximum configured depth", StringComparison.Ordinal))
            {
                return (null, Problems.Invalid(Field(ex.Path), $"JSON nested deeper than {Json.MaxDepth} levels is not accepted{where}."));
            }

            // A syntax error (the reader's own exception inside) is the body's fault; a value of the
            // wrong type is the fault of the field at the path.
            return ex.InnerException?.GetType().Name == "JsonReaderException" || Field(ex.Path) == "body"
                ? (null, Problems.Invalid("body", $"The body is not valid JSON{(Field(ex.Path) is var f and not "body" ? $" near {f}" : "")}{where}."))
                : (null, Problems.Invalid(Field(ex.Path), $"This value has the wrong type{where}."));
        }
    }

    private static IResult TooLarge(ChatLimitsOptions limits) =>
        Problems.Status(StatusCodes.Status413PayloadTooLarge, "Request body too large",
            $"The body is over the limit of {limits.MaxRequestBodyBytes} bytes ({ChatLimitsOptions.SectionName}:MaxRequestBodyBytes).");

    // "$.messages[0].content" -> "messages[0].content"; the root or nothing -> "body".
    private static string Field(string? path) =>
        path is null or "$" || !path.StartsWith("$.", StringComparison.Ordinal) ? "body" : path[2..];
}
