using System.ClientModel.Primitives;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The retry layer as the transport of an SDK client the app makes itself: Azure.AI.OpenAI's <c>AzureOpenAIClient</c>
/// (its deployment paths), or any other System.ClientModel client of an OpenAI-style API.
/// </summary>
public static class ResilientTransportExtensions
{
    /// <summary>
    /// Sends this client's requests through the layer's HttpClient (<see cref="RetryTelemetryConstants.PipelineName"/>):
    /// its retries, waits, gate and breaker, one span per attempt. The SDK's own retries are turned off (they would multiply
    /// ours) and its network timeout is set beyond the layer's budgets, which own the time.
    /// </summary>
    /// <typeparam name="TOptions">The SDK's client options, e.g. <c>AzureOpenAIClientOptions</c>.</typeparam>
    /// <param name="options">The options to set; returned for chaining.</param>
    /// <param name="services">The app's services, where <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> registered the layer.</param>
    /// <returns><paramref name="options"/>.</returns>
    /// <exception cref="InvalidOperationException">The layer is not registered.</exception>
    public static TOptions UseResilientTransport<TOptions>(this TOptions options, IServiceProvider services)
        where TOptions : ClientPipelineOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        if (services.GetService<OpenAIUpstreams>() is null)
        {
            throw new InvalidOperationException("UseResilientTransport needs the retry layer: call builder.AddResilientOpenAI() first.");
        }

        return options.UseResilientTransport(services.GetRequiredService<IHttpClientFactory>(), services.GetRequiredService<IOptions<ResilienceOptions>>().Value);
    }

    internal static TOptions UseResilientTransport<TOptions>(this TOptions options, IHttpClientFactory factory, ResilienceOptions resilience)
        where TOptions : ClientPipelineOptions
    {
        options.Transport = new HttpClientPipelineTransport(factory.CreateClient(RetryTelemetryConstants.PipelineName));

        // The SDK's own retries would multiply ours (4 x 4 = 16 requests): the pipeline is the one layer.
        options.RetryPolicy = new ClientRetryPolicy(maxRetries: 0);

        // The SDK's network timeout wraps a whole non-streaming call and each gap of a stream. Our pipeline and idle
        // timeout own those budgets, so this only has to be longer than both.
        options.NetworkTimeout = TimeSpans.Max(resilience.TotalTimeout, resilience.StreamIdleTimeout) + TimeSpan.FromSeconds(30);
        return options;
    }
}
