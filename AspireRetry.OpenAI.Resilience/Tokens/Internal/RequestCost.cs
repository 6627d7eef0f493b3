using System.Text.Json;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// What a request will cost against a tokens-per-minute limit, estimated before it is sent: its prompt counted with the
/// model's tokenizer (framed as OpenAI frames chat messages: 3 tokens a message, 3 to prime the reply) plus its
/// completion budget (<c>max_completion_tokens</c>, <c>max_tokens</c> or <c>max_output_tokens</c> when set, else the
/// model's recent completions). Embeddings: the sum over the inputs, no completion.
/// </summary>
/// <param name="Model">The model (an Azure deployment's name when the path names one).</param>
/// <param name="PromptTokens">The prompt's estimated tokens.</param>
/// <param name="CompletionTokens">The completion tokens reserved.</param>
internal sealed record RequestCost(string Model, int PromptTokens, int CompletionTokens)
{
    private const int PerMessage = 3;
    private const int ReplyPriming = 3;

    /// <summary>The tokens to reserve.</summary>
    public int Total => PromptTokens + CompletionTokens;

    /// <summary>
    /// The cost of a chat completions, Responses or embeddings request; null for any other call (files, images, models...)
    /// or a body that is not such a request's JSON.
    /// </summary>
    public static RequestCost? Read(Uri uri, ReadOnlyMemory<byte> body, CompletionSizes completions)
    {
        var path = uri.AbsolutePath.TrimEnd('/');
        var operation = path.EndsWith("/chat/completions", StringComparison.Ordinal) ? Operation.Chat
            : path.EndsWith("/embeddings", StringComparison.Ordinal) ? Operation.Embeddings
            : path.EndsWith("/responses", StringComparison.Ordinal) ? Operation.Responses
            : (Operation?)null;
        if (operation is null || body.IsEmpty)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var model = DeploymentOf(path) ?? (root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null);
            if (string.IsNullOrEmpty(model))
            {
                return null;
            }

            return operation switch
            {
                Operation.Embeddings => new RequestCost(model, EmbeddingInputs(model, root), 0),
                Operation.Chat => new RequestCost(model, ChatPrompt(model, root), Completion(model, root, completions, "max_completion_tokens", "max_tokens")),
                _ => new RequestCost(model, ResponsesPrompt(model, root), Completion(model, root, completions, "max_output_tokens")),
            };
        }
        catch (JsonException)
        {
            return null; // not ours to judge: the upstream answers a malformed body with its 400
        }
    }

    private static int ChatPrompt(string model, JsonElement root)
    {
        var tokens = ReplyPriming;
        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            foreach (var message in messages.EnumerateArray())
            {
                tokens += PerMessage + Content(model, message);
                if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
                {
                    tokens += 1 + TokenCounter.Count(model, name.GetString()!);
                }
            }
        }

        return tokens;
    }

    private static int ResponsesPrompt(string model, JsonElement root)
    {
        var tokens = ReplyPriming;
        if (root.TryGetProperty("instructions", out var instructions) && instructions.ValueKind == JsonValueKind.String)
        {
            tokens += PerMessage + TokenCounter.Count(model, instructions.GetString()!);
        }

        if (root.TryGetProperty("input", out var input))
        {
            if (input.ValueKind == JsonValueKind.String)
            {
                tokens += PerMessage + TokenCounter.Count(model, input.GetString()!);
            }
            else if (input.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in input.EnumerateArray())
                {
                    tokens += PerMessage + Content(model, item);
                }
            }
        }

        return tokens;
    }

    private static int EmbeddingInputs(string model, JsonElement root)
    {
        if (!root.TryGetProperty("input", out var input))
        {
            return 0;
        }

        return input.ValueKind switch
        {
            JsonValueKind.String => TokenCounter.Count(model, input.GetString()!),
            JsonValueKind.Array => input.EnumerateArray().Sum(item => item.ValueKind switch
            {
                JsonValueKind.String => TokenCounter.Count(model, item.GetString()!),
                JsonValueKind.Array => item.GetArrayLength(), // already tokens
                JsonValueKind.Number => 1,
                _ => 0,
            }),
            _ => 0,
        };
    }

    /// <summary>A message's or item's content: a string, or parts whose <c>text</c> counts.</summary>
    private static int Content(string model, JsonElement message)
    {
        if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("content", out var content))
        {
            return 0;
        }

        return content.ValueKind switch
        {
            JsonValueKind.String => TokenCounter.Count(model, content.GetString()!),
            JsonValueKind.Array => content.EnumerateArray().Sum(part =>
                part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                    ? TokenCounter.Count(model, text.GetString()!)
                    : 0),
            _ => 0,
        };
    }

    private static int Completion(string model, JsonElement root, CompletionSizes completions, params string[] limits)
    {
        foreach (var limit in limits)
        {
            if (root.TryGetProperty(limit, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var tokens) && tokens > 0)
            {
                return tokens;
            }
        }

        return completions.ExpectedFor(model);
    }

    /// <summary>Azure's <c>/openai/deployments/{deployment}/...</c>: the deployment is the model.</summary>
    private static string? DeploymentOf(string path)
    {
        const string Marker = "/openai/deployments/";
        var at = path.IndexOf(Marker, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }

        var rest = path[(at + Marker.Length)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return Uri.UnescapeDataString(slash < 0 ? rest : rest[..slash]);
    }

    private enum Operation
    {
        Chat,
        Embeddings,
        Responses,
    }
}
