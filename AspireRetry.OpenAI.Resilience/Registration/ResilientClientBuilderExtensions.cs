using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The retry layer's pieces as Microsoft.Extensions.AI middleware, for a client an app builds itself (for example the
/// Responses API's <c>IChatClient</c>) over the <see cref="OpenAIClient"/> that
/// <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> registered. <c>AddChatClient</c> and <c>AddEmbeddingGenerator</c>
/// of <see cref="ResilientOpenAIBuilderExtensions"/> compose the same pieces. The first middleware added is the outermost:
/// add the call scope first, then <c>UseOpenTelemetry</c>, then the failover.
/// </summary>
public static class ResilientClientBuilderExtensions
{
    /// <summary>
    /// Gives every call of this client its route: the client's model (as the client below names it,
    /// <see cref="ChatClientMetadata.DefaultModelId"/>) decides the pipeline the attempts go through (that model's
    /// breaker, gate and budget), and a caller's <see cref="CallProgress"/> hears the call. Without it, calls on the SDK
    /// client share one pipeline for every model.
    /// </summary>
    /// <param name="builder">The chat client's builder.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="InvalidOperationException">The client below names no model (at its first call).</exception>
    public static ChatClientBuilder UseResilientCallScope(this ChatClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new CallScopeChatClient(inner, ModelOf(inner.GetService<ChatClientMetadata>()?.DefaultModelId)));
    }

    /// <summary>As <see cref="UseResilientCallScope(ChatClientBuilder)"/>, for the model <paramref name="model"/>.</summary>
    /// <param name="builder">The chat client's builder.</param>
    /// <param name="model">The model whose pipeline the calls go through.</param>
    /// <returns>The same builder.</returns>
    public static ChatClientBuilder UseResilientCallScope(this ChatClientBuilder builder, string model)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        return builder.Use(inner => new CallScopeChatClient(inner, model));
    }

    /// <summary>As <see cref="UseResilientCallScope(ChatClientBuilder)"/> for embeddings (<see cref="EmbeddingGeneratorMetadata.DefaultModelId"/>).</summary>
    /// <param name="builder">The embedding generator's builder.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="InvalidOperationException">The generator below names no model.</exception>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> UseResilientCallScope(this EmbeddingGeneratorBuilder<string, Embedding<float>> builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) =>
        {
            var model = ModelOf(inner.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
            return new CallScopeEmbeddingGenerator(inner, model, TokenCeilingOf(services, model));
        });
    }

    /// <summary>As <see cref="UseResilientCallScope(EmbeddingGeneratorBuilder{string, Embedding{float}})"/>, for the model <paramref name="model"/>.</summary>
    /// <param name="builder">The embedding generator's builder.</param>
    /// <param name="model">The model whose pipeline the calls go through.</param>
    /// <returns>The same builder.</returns>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> UseResilientCallScope(this EmbeddingGeneratorBuilder<string, Embedding<float>> builder, string model)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        return builder.Use((inner, services) => new CallScopeEmbeddingGenerator(inner, model, TokenCeilingOf(services, model)));
    }

    /// <summary>
    /// The largest estimate one request of <paramref name="model"/> may have at the primary upstream's gate: its token bucket
    /// less the margin reservations hold, as the gate mirrors it, else as configured (<c>RateLimit:Limits</c>, with the
    /// margin a gate starts with, <c>RateLimit:Reserve</c>); null while neither is known.
    /// </summary>
    private static Func<long?> TokenCeilingOf(IServiceProvider services, string model)
    {
        var registry = services.GetService<UpstreamStateRegistry>();
        var primary = services.GetService<OpenAIUpstreams>()?.All.FirstOrDefault()?.Name;
        var options = services.GetService<IOptions<ResilienceOptions>>()?.Value.RateLimit;
        if (registry is null || primary is null || options is null)
        {
            return static () => null;
        }

        return () => registry.Find(primary, model)?.Limits.Gate.TokenCeiling
            ?? (options.LimitsFor(primary, model)?.TokensPerMinute is { } configured ? (long)Math.Floor(configured / (1 + options.Reserve)) : null);
    }

    /// <summary>
    /// Calls go to the first upstream that serves the client's model (the primary, then <c>openai-2</c>, <c>-3</c>, ... of
    /// <see cref="OpenAIUpstreams"/>) and move to the next when one fails in a way another may not (down, rate limited,
    /// out of quota, timed out, unreachable), never after a stream's first update and never for a request at fault (400).
    /// The client below is the primary's; the others are made with <paramref name="clientOf"/>. With one upstream it only
    /// names the upstream on the call's route (its pipeline is <c>{upstream}/{model}</c>).
    /// </summary>
    /// <param name="builder">The chat client's builder; the client below calls the primary upstream.</param>
    /// <param name="clientOf">
    /// How to make the same client on another upstream's <see cref="OpenAIClient"/> for a model; by default its chat
    /// completions client (<c>client.GetChatClient(model).AsIChatClient()</c>). For the Responses API:
    /// <c>(client, model) =&gt; client.GetResponsesClient().AsIChatClient(model)</c>.
    /// </param>
    /// <returns>The same builder.</returns>
    /// <exception cref="InvalidOperationException">The client below names no model, or the layer is not registered.</exception>
    public static ChatClientBuilder UseUpstreamFailover(this ChatClientBuilder builder, Func<OpenAIClient, string, IChatClient>? clientOf = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        clientOf ??= static (client, model) => client.GetChatClient(model).AsIChatClient();
        return builder.Use((inner, services) =>
        {
            var model = ModelOf(inner.GetService<ChatClientMetadata>()?.DefaultModelId);
            var upstreams = services.GetService<OpenAIUpstreams>() ?? throw new InvalidOperationException(
                "UseUpstreamFailover needs the retry layer: call builder.AddResilientOpenAI() first.");
            var clients = services.GetRequiredService<ResilientOpenAIClients>();
            var all = upstreams.All.Select((upstream, i) => (Upstream: upstream, Position: i)).ToList();

            // The upstreams that serve this model, in order; if none says so, every upstream (the first one's answer tells why not).
            var serving = all.Where(u => u.Upstream.Connection.Serves(model)).ToList() is { Count: > 0 } some ? some : all;
            return new UpstreamFailoverChatClient(
                [.. serving.Select(u => (u.Upstream, u.Position == 0 ? inner : clientOf(clients[u.Position], model)))],
                services.GetRequiredService<UpstreamStateRegistry>(),
                model,
                services.GetRequiredService<ILoggerFactory>().CreateLogger<ResilientChatClients>());
        });
    }

    private static string ModelOf(string? model) => !string.IsNullOrWhiteSpace(model) ? model : throw new InvalidOperationException(
        "The client below names no model (its metadata's DefaultModelId is empty): pass the model (UseResilientCallScope(\"gpt-4o\")), or make the client for a model (GetChatClient(\"gpt-4o\").AsIChatClient()).");
}
