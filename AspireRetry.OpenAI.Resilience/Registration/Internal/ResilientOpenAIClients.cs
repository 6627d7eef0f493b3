using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One official <see cref="OpenAIClient"/> per upstream, in priority order, each with its own retries off and its
/// transport the layer's HttpClient: every call made on it (chat, embeddings, Responses, files...) goes through the one
/// retry layer.
/// </summary>
internal sealed class ResilientOpenAIClients(IHttpClientFactory httpClientFactory, OpenAIUpstreams upstreams, IOptions<ResilienceOptions> resilience)
{
    private readonly Lazy<OpenAIClient[]> _clients = new(() =>
        [.. upstreams.All.Select(u => Create(httpClientFactory, u.Connection, resilience.Value))]);

    /// <summary>The client of the <paramref name="position"/>-th upstream (0: the primary).</summary>
    public OpenAIClient this[int position] => _clients.Value[position];

    private static OpenAIClient Create(IHttpClientFactory factory, OpenAIConnection connection, ResilienceOptions resilience) =>
        new(new ApiKeyCredential(connection.Key), new OpenAIClientOptions
        {
            Endpoint = connection.Endpoint,
            Transport = new HttpClientPipelineTransport(factory.CreateClient(RetryTelemetryConstants.PipelineName)),

            // The SDK's own retries would multiply ours (4 x 4 = 16 requests): the pipeline is the one layer.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),

            // The SDK's network timeout wraps a whole non-streaming call and each gap of a stream. Our
            // pipeline and idle timeout own those budgets, so this only has to be longer than both.
            NetworkTimeout = TimeSpans.Max(resilience.TotalTimeout, resilience.StreamIdleTimeout) + TimeSpan.FromSeconds(30),
        });
}
