using System.Text;
using System.Text.Json;
using static AspireRetry.OpenAIEmulator.OpenAI.RequestJson;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>Reads a chat completion body (<see cref="RequestJson"/> names the parameter of any rejection).</summary>
public static class ChatRequestParser
{
    private static readonly string[] Roles = ["system", "user", "assistant", "developer"];
    private static readonly string[] TextParts = ["text"];

    /// <param name="deployment">An Azure deployment path's deployment, which is the model.</param>
    public static Task<(ChatCompletionRequest? Request, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken) =>
        RequestJson.ParseAsync(body, root => Read(root, deployment), cancellationToken);

    private static ChatCompletionRequest Read(JsonElement root, string? deployment)
    {
        var model = ModelOf(root, deployment);

        var messagesElement = Optional(root, "messages") ?? throw Missing("messages");
        if (messagesElement.ValueKind != JsonValueKind.Array)
        {
            throw WrongType("messages", "an array of objects", messagesElement);
        }

        if (messagesElement.GetArrayLength() == 0)
        {
            throw Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        }

        var messages = messagesElement.EnumerateArray().Select((message, index) => ReadMessage(message, $"messages[{index}]", TextParts)).ToList();

        var stream = OptionalBool(root, "stream");
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

        var maxTokens = MinimumInt(root, "max_completion_tokens") ?? MinimumInt(root, "max_tokens");
        var temperature = Temperature(root);

        if (Optional(root, "n") is { } n && (n.ValueKind != JsonValueKind.Number || !n.TryGetInt32(out var count) || count != 1))
        {
            throw Invalid($"Invalid 'n': the AspireRetry emulator only supports n=1, but got {n.GetRawText()} instead.", "n", "invalid_value");
        }

        return new ChatCompletionRequest(model, messages, stream, includeUsage, maxTokens, temperature, OptionalString(root, "user"));
    }

    /// <summary>
    /// One message, its content a string or an array of text parts of <paramref name="partTypes"/>: chat's
    /// <c>text</c>, or the Responses API's <c>input_text</c> and <c>output_text</c>.
    /// </summary>
    public static ChatMessage ReadMessage(JsonElement message, string path, IReadOnlyList<string> partTypes)
    {
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

        return new ChatMessage(role, ReadContent(content.Value, $"{path}.content", partTypes), name);
    }

    private static string ReadContent(JsonElement content, string path, IReadOnlyList<string> partTypes)
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
            if (!partTypes.Contains(type))
            {
                throw Invalid($"Invalid value for '{partPath}.type': '{type}'. The AspireRetry emulator supports only {string.Join(" and ", partTypes.Select(t => $"'{t}'"))} content parts.", $"{partPath}.type", "invalid_value");
            }

            text.Append(RequireString(Optional(part, "text") ?? throw Missing($"{partPath}.text"), $"{partPath}.text"));
        }

        return text.ToString();
    }
}
