using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;

namespace AspireRetry.Bench.Strategies;

/// <summary>The official OpenAI SDK's ChatClient over a given HttpClient, as every non-ChatApi strategy uses it.</summary>
public static class OpenAISdk
{
    public const string Model = "gpt-4o";

    /// <summary>The emulator checks no key; the SDK insists on one.</summary>
    public const string Key = "sk-bench";

    /// <summary>The SDK's default network timeout, which a strategy that does not set one lives with.</summary>
    public static readonly TimeSpan DefaultNetworkTimeout = TimeSpan.FromSeconds(100);

    public static ChatClient Create(Uri endpoint, HttpClient http, ClientRetryPolicy retryPolicy, TimeSpan networkTimeout) =>
        new(Model, new ApiKeyCredential(Key), new OpenAIClientOptions
        {
            Endpoint = endpoint,
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = retryPolicy,
            NetworkTimeout = networkTimeout,
        });

    public static async Task<string?> CompleteAsync(ChatClient client, string prompt, CancellationToken cancellationToken)
    {
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage(prompt)], cancellationToken: cancellationToken).ConfigureAwait(false);
        return completion.Content.Count > 0 ? null : "empty reply";
    }
}
