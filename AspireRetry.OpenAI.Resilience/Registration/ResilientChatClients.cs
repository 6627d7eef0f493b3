using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One <see cref="IChatClient"/> per model: for each upstream that serves it, in priority order, the official OpenAI
/// SDK's ChatClient with its own retries off and its transport the "openai" HttpClient (where the retry layer lives);
/// a failover over them (a call moves to the next upstream when one fails, before any output); wrapped with
/// Microsoft.Extensions.AI's OpenTelemetry so each call is one GenAI span that parents its attempts, whichever
/// upstream they went to. Run a call inside a <see cref="CallProgress"/> scope to hear its attempts.
/// </summary>
public sealed class ResilientChatClients
{
    private readonly ConcurrentDictionary<string, IChatClient> _clients = new(StringComparer.Ordinal);
    private readonly ResilientOpenAIClients _openAI;
    private readonly OpenAIUpstreams _upstreams;
    private readonly IOptions<GenAITelemetryOptions> _telemetry;
    private readonly IHostEnvironment _environment;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IServiceProvider _services;

    /// <param name="clients">The SDK's client of each upstream, the layer as its transport.</param>
    /// <param name="upstreams">The upstreams, in priority order.</param>
    /// <param name="telemetry">Whether the GenAI spans record message content.</param>
    /// <param name="environment">Development records message content unless told otherwise.</param>
    /// <param name="loggerFactory">For Microsoft.Extensions.AI's OpenTelemetry client.</param>
    /// <param name="services">For the chat client pipeline.</param>
    internal ResilientChatClients(
        ResilientOpenAIClients clients,
        OpenAIUpstreams upstreams,
        IOptions<GenAITelemetryOptions> telemetry,
        IHostEnvironment environment,
        ILoggerFactory loggerFactory,
        IServiceProvider services)
    {
        _openAI = clients;
        _upstreams = upstreams;
        _telemetry = telemetry;
        _environment = environment;
        _loggerFactory = loggerFactory;
        _services = services;
    }

    /// <summary>Made by the container: <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> registers it.</summary>
    internal static ResilientChatClients Create(IServiceProvider services) => new(
        services.GetRequiredService<ResilientOpenAIClients>(),
        services.GetRequiredService<OpenAIUpstreams>(),
        services.GetRequiredService<IOptions<GenAITelemetryOptions>>(),
        services.GetRequiredService<IHostEnvironment>(),
        services.GetRequiredService<ILoggerFactory>(),
        services);

    /// <summary>The chat client for <paramref name="model"/>; one per model for the life of the app.</summary>
    /// <param name="model">The model name, e.g. <c>gpt-4o</c>.</param>
    public IChatClient Get(string model) => _clients.GetOrAdd(model, CreateFor);

    private IChatClient CreateFor(string model) =>
        new ChatClientBuilder(_openAI[0].GetChatClient(model).AsIChatClient())
            .UseResilientCallScope(model)
            .UseOpenTelemetry(_loggerFactory, configure: otel => otel.EnableSensitiveData = GenAITelemetryOptions.Capture(_telemetry.Value, _environment))
            .UseUpstreamFailover()
            .Build(_services);
}
