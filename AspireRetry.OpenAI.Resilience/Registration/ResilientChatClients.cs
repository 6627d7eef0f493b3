using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One <see cref="IChatClient"/> per model: for each upstream that serves it, in priority order, the official OpenAI
/// SDK's ChatClient with its own retries off and its transport the "openai" HttpClient (where the retry layer lives);
/// a failover over them (a call moves to the next upstream when one fails, before any output); wrapped with
/// Microsoft.Extensions.AI's OpenTelemetry so each call is one GenAI span that parents its attempts, whichever
/// upstream they went to. Run a call inside a <see cref="CallProgress"/> scope to hear its attempts.
/// </summary>
/// <param name="httpClientFactory">Creates the "openai" HttpClient.</param>
/// <param name="upstreams">The upstreams, in priority order.</param>
/// <param name="resilience">The retry layer's options (for the SDK's network timeout).</param>
/// <param name="telemetry">Whether the GenAI spans record message content.</param>
/// <param name="environment">Development records message content unless told otherwise.</param>
/// <param name="loggerFactory">For Microsoft.Extensions.AI's OpenTelemetry client.</param>
/// <param name="services">For the chat client pipeline.</param>
public sealed class ResilientChatClients(
    IHttpClientFactory httpClientFactory,
    OpenAIUpstreams upstreams,
    IOptions<ResilienceOptions> resilience,
    IOptions<GenAITelemetryOptions> telemetry,
    IHostEnvironment environment,
    ILoggerFactory loggerFactory,
    IServiceProvider services)
{
    private readonly Lazy<OpenAIClient[]> _openAI = new(() =>
        [.. upstreams.All.Select(u => CreateOpenAIClient(httpClientFactory, u.Connection, resilience.Value))]);

    private readonly ConcurrentDictionary<string, IChatClient> _clients = new(StringComparer.Ordinal);

    /// <summary>The chat client for <paramref name="model"/>; one per model for the life of the app.</summary>
    /// <param name="model">The model name, e.g. <c>gpt-4o</c>.</param>
    public IChatClient Get(string model) => _clients.GetOrAdd(model, Create);

    private IChatClient Create(string model)
    {
        var captureContent = telemetry.Value.CaptureMessageContent ?? environment.IsDevelopment();

        // The upstreams that serve this model, in order; if none says so, every upstream (the first one's answer tells why not).
        var all = upstreams.All.Select((upstream, i) => (Upstream: upstream, Client: _openAI.Value[i])).ToList();
        var serving = all.Where(u => u.Upstream.Connection.Serves(model)).ToList() is { Count: > 0 } some ? some : all;

        IChatClient failover = new UpstreamFailoverChatClient(
            [.. serving.Select(u => (u.Upstream, u.Client.GetChatClient(model).AsIChatClient()))],
            services.GetRequiredService<UpstreamStateRegistry>(),
            model,
            loggerFactory.CreateLogger<ResilientChatClients>());
        return failover
            .AsBuilder()
            .UseOpenTelemetry(loggerFactory, configure: otel => otel.EnableSensitiveData = captureContent)
            .Use(inner => new CallScopeChatClient(inner, model))
            .Build(services);
    }

    private static OpenAIClient CreateOpenAIClient(IHttpClientFactory factory, OpenAIConnection connection, ResilienceOptions resilience) =>
        new(new ApiKeyCredential(connection.Key), new OpenAIClientOptions
        {
            Endpoint = connection.Endpoint,
            Transport = new HttpClientPipelineTransport(factory.CreateClient(RetryTelemetryConstants.PipelineName)),

            // The SDK's own retries would multiply ours (4 x 4 = 16 requests): the pipeline is the one layer.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),

            // The SDK's network timeout wraps a whole non-streaming call and each gap of a stream. Our
            // pipeline and idle timeout own those budgets, so this only has to be longer than both.
            NetworkTimeout = (resilience.TotalTimeout > resilience.StreamIdleTimeout ? resilience.TotalTimeout : resilience.StreamIdleTimeout)
                + TimeSpan.FromSeconds(30),
        });
}
