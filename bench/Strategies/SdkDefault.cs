using System.ClientModel.Primitives;
using AspireRetry.Bench.Measuring;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace AspireRetry.Bench.Strategies;

/// <summary>
/// The OpenAI SDK as it comes: its <see cref="ClientRetryPolicy"/> (3 retries, exponential backoff) and
/// no resilience handler. Only the time scale is applied to the SDK's own backoff. Given more than one
/// upstream, one client each, and the next one when a client's own retries are spent (a try/catch around it).
/// Embeddings on the SDK's EmbeddingClient, with the same retry policy.
/// </summary>
public sealed class SdkDefault(IReadOnlyList<ChatClient> clients, IReadOnlyList<EmbeddingClient> embeddings, HttpClient http) : IStrategy
{
    public static SdkDefault Create(IReadOnlyList<Uri> endpoints, TimeScale scale)
    {
        var http = new HttpClient(new RecordingHandler(new SocketsHttpHandler())) { Timeout = scale.Scale(TimeSpan.FromSeconds(100)) };
        return new SdkDefault(
            [.. endpoints.Select(endpoint => OpenAISdk.Create(endpoint, http, new ScaledClientRetryPolicy(scale), scale.Scale(OpenAISdk.DefaultNetworkTimeout)))],
            [.. endpoints.Select(endpoint => OpenAISdk.CreateEmbeddings(endpoint, http, new ScaledClientRetryPolicy(scale), scale.Scale(OpenAISdk.DefaultNetworkTimeout)))],
            http);
    }

    public Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken) =>
        EachUpstreamAsync(clients.Count, i => OpenAISdk.CompleteAsync(clients[i], prompt, cancellationToken), cancellationToken);

    public Task<string?> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        EachUpstreamAsync(embeddings.Count, i => OpenAISdk.EmbedAsync(embeddings[i], inputs, cancellationToken), cancellationToken);

    private static async Task<string?> EachUpstreamAsync(int upstreams, Func<int, Task<string?>> call, CancellationToken cancellationToken)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                return await call(i);
            }
            catch (Exception) when (i < upstreams - 1 && !cancellationToken.IsCancellationRequested)
            {
                // The next upstream.
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        http.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The SDK's default policy with its own backoff on the run's clock. A wait the server named
    /// (<c>Retry-After</c>, the only header this policy reads) is already real time and stays as it is.
    /// </summary>
    private sealed class ScaledClientRetryPolicy(TimeScale scale) : ClientRetryPolicy
    {
        protected override TimeSpan GetNextDelay(PipelineMessage message, int tryCount)
        {
            var delay = base.GetNextDelay(message, tryCount);
            return message.Response?.Headers.TryGetValue("Retry-After", out _) == true ? delay : scale.Scale(delay);
        }
    }
}
