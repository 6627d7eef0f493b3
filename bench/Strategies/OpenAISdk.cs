using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace AspireRetry.Bench.Strategies;

/// <summary>The official OpenAI SDK's ChatClient and EmbeddingClient over a given HttpClient, as every non-ChatApi strategy uses them.</summary>
public static class OpenAISdk
{
    public const string Model = "gpt-4o";

    /// <summary>The embeddings model of the scenarios that embed (one of the emulator's).</summary>
    public const string EmbeddingModel = "text-embedding-3-small";

    /// <summary>The emulator checks no key; the SDK insists on one.</summary>
    public const string Key = "sk-bench";

    /// <summary>The SDK's default network timeout, which a strategy that does not set one lives with.</summary>
    public static readonly TimeSpan DefaultNetworkTimeout = TimeSpan.FromSeconds(100);

    public static ChatClient Create(Uri endpoint, HttpClient http, ClientRetryPolicy retryPolicy, TimeSpan networkTimeout) =>
        new(Model, new ApiKeyCredential(Key), Options(endpoint, http, retryPolicy, networkTimeout));

    /// <summary>The embeddings client a user of the SDK makes beside the chat client: the same transport, retries and timeout.</summary>
    public static EmbeddingClient CreateEmbeddings(Uri endpoint, HttpClient http, ClientRetryPolicy retryPolicy, TimeSpan networkTimeout) =>
        new(EmbeddingModel, new ApiKeyCredential(Key), Options(endpoint, http, retryPolicy, networkTimeout));

    private static OpenAIClientOptions Options(Uri endpoint, HttpClient http, ClientRetryPolicy retryPolicy, TimeSpan networkTimeout) => new()
    {
        Endpoint = endpoint,
        Transport = new HttpClientPipelineTransport(http),
        RetryPolicy = retryPolicy,
        NetworkTimeout = networkTimeout,
    };

    public static async Task<string?> CompleteAsync(ChatClient client, string prompt, CancellationToken cancellationToken)
    {
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage(prompt)], cancellationToken: cancellationToken).ConfigureAwait(false);
        return completion.Content.Count > 0 ? null : "empty reply";
    }

    /// <summary>One embeddings request for all <paramref name="inputs"/>: null when a vector came back for each.</summary>
    public static async Task<string?> EmbedAsync(EmbeddingClient client, IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        OpenAIEmbeddingCollection embeddings = await client.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken).ConfigureAwait(false);
        return embeddings.Count == inputs.Count ? null : $"{embeddings.Count} embeddings for {inputs.Count} inputs";
    }
}
