using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Chat clients and embedding generators from DI, in the shape of Aspire.OpenAI and Microsoft.Extensions.AI: each
/// returns Microsoft.Extensions.AI's builder, so an app adds its own middleware on top. Every call they make goes
/// through the one retry layer; each is one GenAI span (OpenTelemetry) that parents its attempts.
/// </summary>
public static class ResilientOpenAIBuilderExtensions
{
    /// <summary>Registers an <see cref="IChatClient"/> for <paramref name="model"/>, over the upstreams in priority order (failover).</summary>
    /// <param name="builder">What <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> returned.</param>
    /// <param name="model">The model; else the connection string's <c>Model=</c> or <c>Deployment=</c>.</param>
    /// <returns>The chat client's builder, to add middleware on.</returns>
    /// <exception cref="InvalidOperationException">No model is given or configured (the message says where to set one).</exception>
    public static ChatClientBuilder AddChatClient(this ResilientOpenAIBuilder builder, string? model = null)
    {
        var name = ModelOf(builder, model);
        return builder.Services.AddChatClient(services => services.GetRequiredService<ResilientChatClients>().Get(name));
    }

    /// <summary>Registers an <see cref="IChatClient"/> for <paramref name="model"/> under <paramref name="serviceKey"/>.</summary>
    /// <param name="builder">What <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> returned.</param>
    /// <param name="serviceKey">The key to inject it by (<c>[FromKeyedServices("...")]</c>).</param>
    /// <param name="model">The model; else the connection string's <c>Model=</c> or <c>Deployment=</c>.</param>
    /// <returns>The chat client's builder, to add middleware on.</returns>
    /// <exception cref="InvalidOperationException">No model is given or configured (the message says where to set one).</exception>
    public static ChatClientBuilder AddKeyedChatClient(this ResilientOpenAIBuilder builder, object serviceKey, string? model = null)
    {
        var name = ModelOf(builder, model);
        return builder.Services.AddKeyedChatClient(serviceKey, services => services.GetRequiredService<ResilientChatClients>().Get(name));
    }

    /// <summary>Registers an <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> for <paramref name="model"/>, on the primary upstream.</summary>
    /// <param name="builder">What <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> returned.</param>
    /// <param name="model">The embedding model; else the connection string's <c>Model=</c> or <c>Deployment=</c>.</param>
    /// <returns>The generator's builder, to add middleware on.</returns>
    /// <exception cref="InvalidOperationException">No model is given or configured (the message says where to set one).</exception>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddEmbeddingGenerator(this ResilientOpenAIBuilder builder, string? model = null)
    {
        var name = ModelOf(builder, model);
        return builder.Services.AddEmbeddingGenerator(services => Embeddings(services, name));
    }

    /// <summary>Registers an <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> for <paramref name="model"/> under <paramref name="serviceKey"/>.</summary>
    /// <param name="builder">What <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> returned.</param>
    /// <param name="serviceKey">The key to inject it by.</param>
    /// <param name="model">The embedding model; else the connection string's <c>Model=</c> or <c>Deployment=</c>.</param>
    /// <returns>The generator's builder, to add middleware on.</returns>
    /// <exception cref="InvalidOperationException">No model is given or configured (the message says where to set one).</exception>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddKeyedEmbeddingGenerator(this ResilientOpenAIBuilder builder, object serviceKey, string? model = null)
    {
        var name = ModelOf(builder, model);
        return builder.Services.AddKeyedEmbeddingGenerator(serviceKey, services => Embeddings(services, name));
    }

    private static IEmbeddingGenerator<string, Embedding<float>> Embeddings(IServiceProvider services, string model) =>
        services.GetRequiredService<ResilientOpenAIClients>()[0].GetEmbeddingClient(model).AsIEmbeddingGenerator()
            .AsBuilder()
            .UseResilientCallScope(model)
            .UseOpenTelemetry(services.GetService<ILoggerFactory>(), configure: otel => otel.EnableSensitiveData = GenAITelemetryOptions.Capture(
                services.GetRequiredService<IOptions<GenAITelemetryOptions>>().Value, services.GetRequiredService<IHostEnvironment>()))
            .Build(services);

    private static string ModelOf(ResilientOpenAIBuilder builder, string? model)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (model is not null)
        {
            return string.IsNullOrWhiteSpace(model) ? throw new ArgumentException("The model name is empty.", nameof(model)) : model;
        }

        var primary = builder.Upstreams?.All[0];
        return primary?.Connection.DefaultModel ?? throw new InvalidOperationException(
            $"No model for this client: pass one (AddChatClient(\"gpt-4o\")) or add Model=<model> (or Deployment=<deployment>) to ConnectionStrings:{primary?.Name ?? OpenAIConnection.Name}.");
    }
}
