using System.ClientModel.Primitives;
using AspireRetry.Bench.Measuring;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace AspireRetry.Bench.Strategies;

/// <summary>
/// What people write first: catch everything, sleep <c>initial_delay * 2^attempt</c> (1, 2, 4, 8 s), try
/// 5 times. No Retry-After, no jitter, no idea which errors are final. The SDK's own retries are off so
/// the loop is measured alone (left on, they would multiply it: 5 x 4 = 20 requests). Given more than one
/// upstream, each retry goes to the next one in turn: the first thing people write for a second deployment.
/// Embeddings go through the same loop, on the SDK's EmbeddingClient.
/// </summary>
public sealed class NaiveLoop(IReadOnlyList<ChatClient> clients, IReadOnlyList<EmbeddingClient> embeddings, HttpClient http, TimeScale scale) : IStrategy
{
    private const int Attempts = 5;

    public static NaiveLoop Create(IReadOnlyList<Uri> endpoints, TimeScale scale)
    {
        var http = new HttpClient(new RecordingHandler(new SocketsHttpHandler())) { Timeout = scale.Scale(TimeSpan.FromSeconds(100)) };
        return new NaiveLoop(
            [.. endpoints.Select(endpoint => OpenAISdk.Create(endpoint, http, new ClientRetryPolicy(maxRetries: 0), scale.Scale(OpenAISdk.DefaultNetworkTimeout)))],
            [.. endpoints.Select(endpoint => OpenAISdk.CreateEmbeddings(endpoint, http, new ClientRetryPolicy(maxRetries: 0), scale.Scale(OpenAISdk.DefaultNetworkTimeout)))],
            http, scale);
    }

    public Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken) =>
        LoopAsync(attempt => OpenAISdk.CompleteAsync(clients[attempt % clients.Count], prompt, cancellationToken), cancellationToken);

    public Task<string?> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        LoopAsync(attempt => OpenAISdk.EmbedAsync(embeddings[attempt % embeddings.Count], inputs, cancellationToken), cancellationToken);

    private async Task<string?> LoopAsync(Func<int, Task<string?>> call, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await call(attempt);
            }
            catch (Exception) when (attempt < Attempts - 1 && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(scale.Seconds(Math.Pow(2, attempt)), cancellationToken);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        http.Dispose();
        return ValueTask.CompletedTask;
    }
}
