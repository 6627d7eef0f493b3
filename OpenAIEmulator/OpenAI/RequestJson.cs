using System.Text.Json;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Reads an OpenAI request body field by field, for every operation's parser, so each rejection names
/// the offending parameter as OpenAI does (<c>messages[0].role</c>, <c>input</c>, <c>max_tokens</c>, ...).
/// Unknown fields are ignored, as OpenAI ignores fields a model does not use.
/// </summary>
public static class RequestJson
{
    /// <summary>Parses the body and hands its root to <paramref name="read"/>; the first problem becomes the 400's error.</summary>
    public static async Task<(T? Request, OpenAIError? Error)> ParseAsync<T>(Stream body, Func<JsonElement, T> read, CancellationToken cancellationToken)
        where T : class
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
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw Invalid("The request body must be a JSON object.", null, "invalid_type");
                }

                return (read(document.RootElement), null);
            }
            catch (InvalidFieldException ex)
            {
                return (null, ex.Error);
            }
        }
    }

    /// <summary>
    /// The model: an Azure path's deployment when there is one (Azure then ignores the body's <c>model</c>),
    /// else the body's <c>model</c>, which every operation requires.
    /// </summary>
    public static string ModelOf(JsonElement root, string? deployment) => deployment ?? (Optional(root, "model") is { } model
        ? RequireString(model, "model")
        : throw Invalid("You must provide a model parameter.", "model", "missing_required_parameter"));

    /// <summary>The property, or null when it is absent or JSON null (OpenAI treats both as "not set").</summary>
    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string RequireString(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : throw WrongType(path, "a string", element);

    public static bool RequireBool(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw WrongType(path, "a boolean", element),
    };

    public static string? OptionalString(JsonElement parent, string name) =>
        Optional(parent, name) is { } element ? RequireString(element, name) : null;

    public static bool OptionalBool(JsonElement parent, string name) =>
        Optional(parent, name) is { } element && RequireBool(element, name);

    /// <summary>An integer of at least <paramref name="minimum"/>, or null when not set.</summary>
    public static int? MinimumInt(JsonElement parent, string name, int minimum = 1)
    {
        if (Optional(parent, name) is not { } element)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value))
        {
            throw WrongType(name, "an integer", element);
        }

        return value >= minimum
            ? value
            : throw Invalid($"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.", name, "integer_below_min_value");
    }

    /// <summary><c>temperature</c>, which OpenAI bounds to 0..2 wherever it is accepted.</summary>
    public static double? Temperature(JsonElement root)
    {
        if (Optional(root, "temperature") is not { } element)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number)
        {
            throw WrongType("temperature", "a number", element);
        }

        var temperature = element.GetDouble();
        return temperature is >= 0 and <= 2
            ? temperature
            : throw Invalid($"Invalid 'temperature': expected a value between 0 and 2, but got {element.GetRawText()} instead.", "temperature", "invalid_value");
    }

    public static Exception Missing(string path) =>
        Invalid($"Missing required parameter: '{path}'.", path, "missing_required_parameter");

    public static Exception WrongType(string path, string expected, JsonElement actual) =>
        Invalid($"Invalid type for '{path}': expected {expected}, but got {Describe(actual.ValueKind)} instead.", path, "invalid_type");

    public static Exception Invalid(string message, string? param, string code) =>
        new InvalidFieldException(OpenAIErrors.InvalidRequest(message, param, code));

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    // Unwinds a field-by-field reader at the first problem; never escapes ParseAsync.
    private sealed class InvalidFieldException(OpenAIError error) : Exception(error.Message)
    {
        public OpenAIError Error { get; } = error;
    }
}
