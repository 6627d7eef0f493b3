using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>The one registration entry point of the retry layer.</summary>
public static class ResilientOpenAIExtensions
{
    /// <summary>
    /// Registers the upstreams (the connection string <paramref name="connectionName"/>, then <c>{connectionName}-2</c>,
    /// <c>-3</c>, ... in priority order, see <see cref="OpenAIUpstreams"/>), the options of
    /// sections <c>OpenAI:Resilience</c> and <c>OpenAI:Telemetry</c> (validated at start-up, with messages that
    /// name the bad key), the <see cref="RetryTelemetryConstants.PipelineName"/> HttpClient with the one retry
    /// layer, the attempt tags on its HTTP client spans, and <see cref="ResilientChatClients"/>, which hands out
    /// one <c>IChatClient</c> per model.
    /// </summary>
    /// <param name="builder">The application's host builder.</param>
    /// <param name="connectionName">The first (or only) upstream's connection string: <c>Endpoint=&lt;base url ending in /v1&gt;;Key=&lt;key&gt;</c>.</param>
    /// <returns>A builder to chain further configuration of the HttpClient on.</returns>
    /// <exception cref="InvalidOperationException">The connection string is missing or malformed (the message names it).</exception>
    public static ResilientOpenAIBuilder AddResilientOpenAI(this IHostApplicationBuilder builder, string connectionName = OpenAIConnection.Name)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Parsed now, so a missing or malformed connection string stops start-up with a message that names it.
        var upstreams = OpenAIUpstreams.Read(builder.Configuration, connectionName);
        builder.Services.AddSingleton(upstreams);
        builder.Services.AddSingleton(upstreams.All[0].Connection);

        builder.Services.AddOptions<ResilienceOptions>()
            .Bind(builder.Configuration.GetSection(ResilienceOptions.SectionName))
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResilienceOptions>, ResilienceOptionsValidator>());
        builder.Services.AddOptions<GenAITelemetryOptions>()
            .Bind(builder.Configuration.GetSection(GenAITelemetryOptions.SectionName))
            .PostConfigure(options => options.CaptureMessageContent ??= GenAITelemetryOptions.FromEnvironment(builder.Configuration));

#pragma warning disable EXTEXP0001 // Experimental in Microsoft.Extensions.Http.Resilience; the one way to take off a handler that ConfigureHttpClientDefaults put on every client.
        var httpClient = builder.Services.AddHttpClient(RetryTelemetryConstants.PipelineName, client =>
            {
                // The pipeline's TotalTimeout is the budget; HttpClient's own 100 s would cut it short.
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            // One layer: the stock Aspire ServiceDefaults put the standard resilience handler on every HttpClient
            // (ConfigureHttpClientDefaults runs before this client's own configuration). Under ours it would multiply the
            // requests (22 instead of 5 for a down upstream) and cut a long completion at its 10 s attempt timeout.
            .RemoveAllResilienceHandlers()
            .AddOpenAIResilience();
#pragma warning restore EXTEXP0001
        if (upstreams.All.Where(u => u.Connection.UsesEntraId).Select(u => u.Connection).ToList() is { Count: > 0 } entra)
        {
            // Azure OpenAI with Entra ID: the app's TokenCredential when it registered one, else DefaultAzureCredential.
            httpClient.AddHttpMessageHandler(services => new EntraTokenHandler(entra,
                () => services.GetService<TokenCredential>() ?? new DefaultAzureCredential()));
        }

        builder.Services.AddAttemptTelemetry();
        builder.Services.TryAddSingleton<ResilientOpenAIClients>();
        builder.Services.TryAddSingleton(ResilientChatClients.Create);

        // The primary upstream's SDK client, for any call on it (images, audio, files, Responses...): the layer is its
        // transport. Keyed by the connection name, as Aspire.OpenAI registers it; unkeyed when it is the first one.
        builder.Services.AddKeyedSingleton(connectionName, (services, _) => services.GetRequiredService<ResilientOpenAIClients>()[0]);
        builder.Services.TryAddSingleton(services => services.GetRequiredService<ResilientOpenAIClients>()[0]);
        return new ResilientOpenAIBuilder(builder.Services, httpClient) { Upstreams = upstreams };
    }
}

/// <summary>What <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> registered, to chain on.</summary>
/// <param name="Services">The application's services.</param>
/// <param name="HttpClient">
/// The HttpClient that carries the retry layer. A handler added here (<c>AddHttpMessageHandler</c>) runs inside
/// the pipeline, so once per attempt.
/// </param>
public sealed record ResilientOpenAIBuilder(IServiceCollection Services, IHttpClientBuilder HttpClient)
{
    /// <summary>The upstreams read at registration, so a client registered without a model fails start-up, not its first call.</summary>
    internal OpenAIUpstreams? Upstreams { get; init; }
}
