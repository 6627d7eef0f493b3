using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One <see cref="IChatClient"/> per model: the official OpenAI SDK's ChatClient with its own retries
/// off, its transport the "openai" HttpClient (where the retry layer lives), wrapped with
/// Microsoft.Extensions.AI's OpenTelemetry so each call is a GenAI span that parents its attempts.
/// Run a call inside a <see cref="CallProgress"/> scope to hear its attempts.
/// </summary>
/// <param name="httpClientFactory">Creates the "openai" HttpClient.</param>
/// <param name="connection">The upstream.</param>
/// <param name="resilience">The retry layer's options (for the SDK's network timeout).</param>
/// <param name="telemetry">Whether the GenAI spans record message content.</param>
/// <param name="environment">Development records message content unless told otherwise.</param>
/// <param name="loggerFactory">For Microsoft.Extensions.AI's OpenTelemetry client.</param>
/// <param name="services">For the chat client pipeline.</param>
public sealed class ResilientChatClients(
    IHttpClientFactory httpClientFactory,
    OpenAIConnection connection,
    IOptions<ResilienceOptions> resilience,
    IOptions<GenAITelemetryOptions> telemetry,
    IHostEnvironment environment,
    ILoggerFactory loggerFactory,
    IServiceProvider services)
{
    private readonly ConcurrentDictionary<string, IChatClient> _clients = new(StringComparer.Ordinal);
    private readonly Lazy<OpenAIClient> _openAI = new(() => CreateOpenAIClient(httpClientFactory, connection, resilience.Value));

    /// <summary>The chat client for <paramref name="model"/>; one per model for the life of the app.</summary>
    /// <param name="model">The model name, e.g. <c>gpt-4o</c>.</param>
    public IChatClient Get(string model) => _clients.GetOrAdd(model, Create);

    private IChatClient Create(string model)
    {
        var captureContent = telemetry.Value.CaptureMessageContent ?? environment.IsDevelopment();
        return _openAI.Value.GetChatClient(model).AsIChatClient()
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
