using System.Text.Json;
using static AspireRetry.OpenAIEmulator.OpenAI.RequestJson;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Reads a Responses API body into the chat request the reply is generated from, so a question gets the
/// same reply and token counts on both APIs: <c>instructions</c> becomes a system message, <c>input</c>
/// (a string, or message items) the conversation, <c>max_output_tokens</c> the completion budget.
/// </summary>
public static class ResponsesRequestParser
{
    // The Responses API refuses smaller budgets.
    private const int MinimumOutputTokens = 16;

    private static readonly string[] ResponseParts = ["input_text", "output_text"];

    /// <param name="deployment">An Azure deployment path's deployment, which is the model.</param>
    public static Task<(ChatCompletionRequest? Request, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken) =>
        RequestJson.ParseAsync(body, root => Read(root, deployment), cancellationToken);

    private static ChatCompletionRequest Read(JsonElement root, string? deployment)
    {
        var model = ModelOf(root, deployment);
        var messages = new List<ChatMessage>();
        if (OptionalString(root, "instructions") is { } instructions)
        {
            messages.Add(new ChatMessage("system", instructions));
        }

        var input = Optional(root, "input") ?? throw Missing("input");
        if (input.ValueKind == JsonValueKind.String)
        {
            messages.Add(new ChatMessage("user", input.GetString()!));
        }
        else if (input.ValueKind == JsonValueKind.Array && input.GetArrayLength() > 0)
        {
            messages.AddRange(input.EnumerateArray().Select(ReadItem));
        }
        else
        {
            throw input.ValueKind == JsonValueKind.Array
                ? Invalid("Invalid 'input': empty array. Expected a string or an array with minimum length 1.", "input", "empty_array")
                : WrongType("input", "a string or an array of input items", input);
        }

        return new ChatCompletionRequest(
            model,
            messages,
            OptionalBool(root, "stream"),
            IncludeUsage: false,
            MinimumInt(root, "max_output_tokens", MinimumOutputTokens),
            Temperature(root),
            OptionalString(root, "user"));
    }

    private static ChatMessage ReadItem(JsonElement item, int index)
    {
        var path = $"input[{index}]";
        if (item.ValueKind == JsonValueKind.Object && Optional(item, "type") is { } typeElement
            && RequireString(typeElement, $"{path}.type") is var type && type != "message")
        {
            throw Invalid($"Invalid value for '{path}.type': '{type}'. The AspireRetry emulator supports only 'message' input items.", $"{path}.type", "invalid_value");
        }

        return ChatRequestParser.ReadMessage(item, path, ResponseParts);
    }
}
