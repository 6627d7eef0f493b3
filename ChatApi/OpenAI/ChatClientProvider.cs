using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>
/// One <see cref="IChatClient"/> per model: the official OpenAI SDK's ChatClient with its own retries
/// off, its transport the "openai" HttpClient (where the resilience pipeline lives), wrapped with
/// Microsoft.Extensions.AI's OpenTelemetry so each call is a GenAI span that parents its attempts.
/// </summary>
public sealed class ChatClientProvider(
    IHttpClientFactory httpClientFactory,
    OpenAIConnection connection,
    IOptions<OpenAIOptions> options,
    IHostEnvironment environment,
    ILoggerFactory loggerFactory,
    IServiceProvider services)
{
    public const string HttpClientName = "openai";

    private readonly ConcurrentDictionary<string, IChatClient> _clients = new(StringComparer.Ordinal);
    private readonly Lazy<OpenAIClient> _openAI = new(() => CreateOpenAIClient(httpClientFactory, connection, options.Value));

    public IChatClient Get(string model) => _clients.GetOrAdd(model, Create);

    private IChatClient Create(string model)
    {
        var captureContent = options.Value.Telemetry.CaptureMessageContent ?? environment.IsDevelopment();
        return _openAI.Value.GetChatClient(model).AsIChatClient()
            .AsBuilder()
            .UseOpenTelemetry(loggerFactory, configure: telemetry => telemetry.EnableSensitiveData = captureContent)
            .Build(services);
    }

    private static OpenAIClient CreateOpenAIClient(IHttpClientFactory factory, OpenAIConnection connection, OpenAIOptions options)
    {
        var resilience = options.Resilience;
        return new OpenAIClient(new ApiKeyCredential(connection.Key), new OpenAIClientOptions
        {
            Endpoint = connection.Endpoint,
            Transport = new HttpClientPipelineTransport(factory.CreateClient(HttpClientName)),

            // The SDK's own retries would multiply ours (4 x 4 = 16 requests): the pipeline is the one layer.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),

            // The SDK's network timeout wraps a whole non-streaming call and each gap of a stream. Our
            // pipeline and idle timeout own those budgets, so this only has to be longer than both.
            NetworkTimeout = (resilience.TotalTimeout > resilience.StreamIdleTimeout ? resilience.TotalTimeout : resilience.StreamIdleTimeout)
                + TimeSpan.FromSeconds(30),
        });
    }
}
