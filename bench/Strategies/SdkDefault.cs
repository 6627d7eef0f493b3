using System.ClientModel.Primitives;
using AspireRetry.Bench.Measuring;
using OpenAI.Chat;

namespace AspireRetry.Bench.Strategies;

/// <summary>
/// The OpenAI SDK as it comes: its <see cref="ClientRetryPolicy"/> (3 retries, exponential backoff) and
/// no resilience handler. Only the time scale is applied to the SDK's own backoff.
/// </summary>
public sealed class SdkDefault(ChatClient client, HttpClient http) : IStrategy
{
    public static SdkDefault Create(Uri endpoint, TimeScale scale)
    {
        var http = new HttpClient(new RecordingHandler(new SocketsHttpHandler())) { Timeout = scale.Scale(TimeSpan.FromSeconds(100)) };
        return new SdkDefault(OpenAISdk.Create(endpoint, http, new ScaledClientRetryPolicy(scale), scale.Scale(OpenAISdk.DefaultNetworkTimeout)), http);
    }

    public Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken) =>
        OpenAISdk.CompleteAsync(client, prompt, cancellationToken);

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
