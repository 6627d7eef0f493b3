using System.Text.Json;
using AspireRetry.OpenAIEmulator.Replies;
using static AspireRetry.OpenAIEmulator.OpenAI.RequestJson;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>The parts of an embeddings request the emulator acts on.</summary>
public sealed record EmbeddingsRequest(string Model, IReadOnlyList<string> Inputs, bool Base64, int Dimensions, string? User = null);

/// <summary>Reads an embeddings body: <c>input</c> as one string or an array of strings, <c>encoding_format</c>, <c>dimensions</c>.</summary>
public static class EmbeddingsRequestParser
{
    // OpenAI's cap on inputs per request.
    private const int MaxInputs = 2048;

    /// <param name="deployment">An Azure deployment path's deployment, which is the model.</param>
    public static Task<(EmbeddingsRequest? Request, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken) =>
        RequestJson.ParseAsync(body, root => Read(root, deployment), cancellationToken);

    private static EmbeddingsRequest Read(JsonElement root, string? deployment)
    {
        var model = ModelOf(root, deployment);
        var inputs = ReadInputs(Optional(root, "input") ?? throw Missing("input"));

        var base64 = OptionalString(root, "encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var other => throw Invalid($"Invalid value for 'encoding_format': '{other}'. Supported values are: 'float' and 'base64'.", "encoding_format", "invalid_value"),
        };

        var native = EmbeddingVectors.NativeDimensions(model);
        var dimensions = MinimumInt(root, "dimensions") ?? native;
        if (dimensions > native)
        {
            throw Invalid($"Invalid 'dimensions': {model} has at most {native} dimensions, but {dimensions} were asked for.", "dimensions", "invalid_value");
        }

        return new EmbeddingsRequest(model, inputs, base64, dimensions, OptionalString(root, "user"));
    }

    private static List<string> ReadInputs(JsonElement input)
    {
        if (input.ValueKind == JsonValueKind.String)
        {
            return [NonEmpty(input.GetString()!, "input")];
        }

        if (input.ValueKind != JsonValueKind.Array)
        {
            throw WrongType("input", "a string or an array of strings", input);
        }

        var count = input.GetArrayLength();
        if (count is 0 or > MaxInputs)
        {
            throw Invalid($"Invalid 'input': expected an array of 1 to {MaxInputs} strings, but got {count}.", "input", "invalid_value");
        }

        return [.. input.EnumerateArray().Select((item, index) => item.ValueKind switch
        {
            JsonValueKind.String => NonEmpty(item.GetString()!, $"input[{index}]"),

            // Token arrays are valid OpenAI input; the emulator's tokenizer cannot read them back.
            JsonValueKind.Number or JsonValueKind.Array => throw Invalid($"Invalid 'input[{index}]': the AspireRetry emulator supports only text inputs, not token arrays.", $"input[{index}]", "invalid_value"),
            _ => throw WrongType($"input[{index}]", "a string", item),
        })];
    }

    private static string NonEmpty(string text, string path) => text.Length > 0
        ? text
        : throw Invalid($"Invalid '{path}': the input must not be empty.", path, "invalid_value");
}
