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

    private IChatClient CreateFor(string model)
    {
        var captureContent = _telemetry.Value.CaptureMessageContent ?? _environment.IsDevelopment();

        // The upstreams that serve this model, in order; if none says so, every upstream (the first one's answer tells why not).
        var all = _upstreams.All.Select((upstream, i) => (Upstream: upstream, Client: _openAI[i])).ToList();
        var serving = all.Where(u => u.Upstream.Connection.Serves(model)).ToList() is { Count: > 0 } some ? some : all;

        IChatClient failover = new UpstreamFailoverChatClient(
            [.. serving.Select(u => (u.Upstream, u.Client.GetChatClient(model).AsIChatClient()))],
            _services.GetRequiredService<UpstreamStateRegistry>(),
            model,
            _loggerFactory.CreateLogger<ResilientChatClients>());
        return failover
            .AsBuilder()
            .UseOpenTelemetry(_loggerFactory, configure: otel => otel.EnableSensitiveData = captureContent)
            .Use(inner => new CallScopeChatClient(inner, model))
            .Build(_services);
    }
}
