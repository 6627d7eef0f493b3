using System.Text;
using System.Text.Json;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Reads a chat completion body field by field, so every rejection names the offending parameter
/// as OpenAI does (<c>messages[0].role</c>, <c>max_tokens</c>, ...). Unknown fields are ignored.
/// </summary>
public static class ChatRequestParser
{
    private static readonly string[] Roles = ["system", "user", "assistant", "developer"];

    public static async Task<(ChatCompletionRequest? Request, OpenAIError? Error)> ParseAsync(Stream body, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            return (null, OpenAIErrors.InvalidRequest(
                $"We could not parse the JSON body of your request: {ex.Message} The OpenAI API expects a JSON payload.", null));
        }

        using (document)
        {
            try
            {
                return (Read(document.RootElement), null);
            }
            catch (InvalidFieldException ex)
            {
                return (null, ex.Error);
            }
        }
    }

    private static ChatCompletionRequest Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid("The request body must be a JSON object.", null, "invalid_type");
        }

        var model = Optional(root, "model") is { } modelElement
            ? RequireString(modelElement, "model")
            : throw Invalid("You must provide a model parameter.", "model", "missing_required_parameter");

        var messagesElement = Optional(root, "messages") ?? throw Missing("messages");
        if (messagesElement.ValueKind != JsonValueKind.Array)
        {
            throw WrongType("messages", "an array of objects", messagesElement);
        }

        if (messagesElement.GetArrayLength() == 0)
        {
            throw Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        }

        var messages = messagesElement.EnumerateArray().Select(ReadMessage).ToList();

        var stream = Optional(root, "stream") is { } streamElement && RequireBool(streamElement, "stream");
        var includeUsage = false;
        if (Optional(root, "stream_options") is { } options)
        {
            if (options.ValueKind != JsonValueKind.Object)
            {
                throw WrongType("stream_options", "an object", options);
            }

            if (!stream)
            {
                throw Invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "invalid_value");
            }

            includeUsage = Optional(options, "include_usage") is { } usage && RequireBool(usage, "stream_options.include_usage");
        }

        var maxTokens = PositiveInt(root, "max_completion_tokens") ?? PositiveInt(root, "max_tokens");

        double? temperature = null;
        if (Optional(root, "temperature") is { } temperatureElement)
        {
            if (temperatureElement.ValueKind != JsonValueKind.Number)
            {
                throw WrongType("temperature", "a number", temperatureElement);
            }

            temperature = temperatureElement.GetDouble();
            if (temperature is < 0 or > 2)
            {
                throw Invalid($"Invalid 'temperature': expected a value between 0 and 2, but got {temperatureElement.GetRawText()} instead.", "temperature", "invalid_value");
            }
        }

        if (Optional(root, "n") is { } n && (n.ValueKind != JsonValueKind.Number || !n.TryGetInt32(out var count) || count != 1))
        {
            throw Invalid($"Invalid 'n': the AspireRetry emulator only supports n=1, but got {n.GetRawText()} instead.", "n", "invalid_value");
        }

        var user = Optional(root, "user") is { } userElement ? RequireString(userElement, "user") : null;
        return new ChatCompletionRequest(model, messages, stream, includeUsage, maxTokens, temperature, user);
    }

    private static ChatMessage ReadMessage(JsonElement message, int index)
    {
        var path = $"messages[{index}]";
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw WrongType(path, "an object", message);
        }

        var role = RequireString(Optional(message, "role") ?? throw Missing($"{path}.role"), $"{path}.role");
        if (!Roles.Contains(role))
        {
            throw Invalid($"Invalid value for '{path}.role': '{role}'. Supported values are: {string.Join(", ", Roles.Select(r => $"'{r}'"))}.", $"{path}.role", "invalid_value");
        }

        var name = Optional(message, "name") is { } nameElement ? RequireString(nameElement, $"{path}.name") : null;
        var content = Optional(message, "content");
        if (content is null)
        {
            // An assistant turn that only called tools has no content; every other turn needs some.
            return role == "assistant" ? new ChatMessage(role, "", name) : throw Missing($"{path}.content");
        }

        return new ChatMessage(role, ReadContent(content.Value, $"{path}.content"), name);
    }

    private static string ReadContent(JsonElement content, string path)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw WrongType(path, "a string or an array of content parts", content);
        }

        var text = new StringBuilder();
        var index = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}[{index++}]";
            if (part.ValueKind != JsonValueKind.Object)
            {
                throw WrongType(partPath, "an object", part);
            }

            var type = RequireString(Optional(part, "type") ?? throw Missing($"{partPath}.type"), $"{partPath}.type");
            if (type != "text")
            {
                throw Invalid($"Invalid value for '{partPath}.type': '{type}'. The AspireRetry emulator supports only 'text' content parts.", $"{partPath}.type", "invalid_value");
            }

            text.Append(RequireString(Optional(part, "text") ?? throw Missing($"{partPath}.text"), $"{partPath}.text"));
        }

        return text.ToString();
    }

    private static int? PositiveInt(JsonElement root, string name)
    {
        if (Optional(root, name) is not { } element)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value))
        {
            throw WrongType(name, "an integer", element);
        }

        return value >= 1
            ? value
            : throw Invalid($"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.", name, "integer_below_min_value");
    }

    /// <summary>The property, or null when it is absent or JSON null (OpenAI treats both as "not set").</summary>
    private static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string RequireString(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : throw WrongType(path, "a string", element);

    private static bool RequireBool(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw WrongType(path, "a boolean", element),
    };

    private static InvalidFieldException Missing(string path) =>
        Invalid($"Missing required parameter: '{path}'.", path, "missing_required_parameter");

    private static InvalidFieldException WrongType(string path, string expected, JsonElement actual) =>
        Invalid($"Invalid type for '{path}': expected {expected}, but got {Describe(actual.ValueKind)} instead.", path, "invalid_type");

    private static InvalidFieldException Invalid(string message, string? param, string code) =>
        new(OpenAIErrors.InvalidRequest(message, param, code));

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    // Unwinds the field-by-field reader at the first problem; never escapes ParseAsync.
    private sealed class InvalidFieldException(OpenAIError error) : Exception(error.Message)
    {
        public OpenAIError Error { get; } = error;
    }
}
