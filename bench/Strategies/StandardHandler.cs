using System.ClientModel.Primitives;
using AspireRetry.Bench.Measuring;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace AspireRetry.Bench.Strategies;

/// <summary>
/// <c>AddStandardResilienceHandler()</c> with its defaults (what Aspire's ServiceDefaults template puts on
/// every HttpClient) under the SDK with its retries off. Only the time scale is applied to its times.
/// Given more than one upstream, .NET's own answer instead: <c>AddStandardHedgingHandler()</c> with the upstreams as
/// ordered routing groups (a failed or slow attempt is hedged to the next) and a pipeline, so a breaker, per authority.
/// </summary>
public sealed class StandardHandler(ChatClient client, EmbeddingClient embeddings, ServiceProvider services) : IStrategy
{
    private const string ClientName = "standard";

    /// <summary>Polly refuses a shorter break; at small time scales the scaled 5 s default falls below it.</summary>
    private static readonly TimeSpan MinimumBreakDuration = TimeSpan.FromMilliseconds(500);

    public static StandardHandler Create(IReadOnlyList<Uri> endpoints, TimeScale scale)
    {
        var endpoint = endpoints[0];
        var services = new ServiceCollection();
        services.AddLogging();
        var http = services.AddHttpClient(ClientName, client => client.Timeout = scale.Scale(TimeSpan.FromSeconds(100)));
        if (endpoints.Count == 1)
        {
            http.AddStandardResilienceHandler(options => Scale(options, scale));
        }
        else
        {
            http.AddStandardHedgingHandler(routing => routing.ConfigureOrderedGroups(groups =>
                {
                    foreach (var upstream in endpoints)
                    {
                        groups.Groups.Add(new UriEndpointGroup { Endpoints = { new WeightedUriEndpoint { Uri = new Uri(upstream.GetLeftPart(UriPartial.Authority)) } } });
                    }
                }))
                .Configure(options => Scale(options, scale))
                .SelectPipelineByAuthority();
        }

        // Added after the resilience handler, so it sits inside it and sees every attempt.
        http.AddHttpMessageHandler(() => new RecordingHandler());

        var provider = services.BuildServiceProvider();
        var httpClient = provider.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);
        return new StandardHandler(
            OpenAISdk.Create(endpoint, httpClient, new ClientRetryPolicy(maxRetries: 0), scale.Scale(OpenAISdk.DefaultNetworkTimeout)),
            OpenAISdk.CreateEmbeddings(endpoint, httpClient, new ClientRetryPolicy(maxRetries: 0), scale.Scale(OpenAISdk.DefaultNetworkTimeout)),
            provider);
    }

    private static void Scale(HttpStandardResilienceOptions options, TimeScale scale)
    {
        options.TotalRequestTimeout.Timeout = scale.Scale(options.TotalRequestTimeout.Timeout);
        options.AttemptTimeout.Timeout = scale.Scale(options.AttemptTimeout.Timeout);
        options.Retry.Delay = scale.Scale(options.Retry.Delay);
        options.Retry.MaxDelay = options.Retry.MaxDelay is { } max ? scale.Scale(max) : null;
        options.CircuitBreaker.SamplingDuration = scale.Scale(options.CircuitBreaker.SamplingDuration);
        var breakDuration = scale.Scale(options.CircuitBreaker.BreakDuration);
        options.CircuitBreaker.BreakDuration = breakDuration < MinimumBreakDuration ? MinimumBreakDuration : breakDuration;
    }

    private static void Scale(HttpStandardHedgingResilienceOptions options, TimeScale scale)
    {
        options.TotalRequestTimeout.Timeout = scale.Scale(options.TotalRequestTimeout.Timeout);
        options.Hedging.Delay = scale.Scale(options.Hedging.Delay);
        options.Endpoint.Timeout.Timeout = scale.Scale(options.Endpoint.Timeout.Timeout);
        options.Endpoint.CircuitBreaker.SamplingDuration = scale.Scale(options.Endpoint.CircuitBreaker.SamplingDuration);
        var breakDuration = scale.Scale(options.Endpoint.CircuitBreaker.BreakDuration);
        options.Endpoint.CircuitBreaker.BreakDuration = breakDuration < MinimumBreakDuration ? MinimumBreakDuration : breakDuration;
    }

    public Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken) =>
        OpenAISdk.CompleteAsync(client, prompt, cancellationToken);

    public Task<string?> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        OpenAISdk.EmbedAsync(embeddings, inputs, cancellationToken);

    public ValueTask DisposeAsync() => services.DisposeAsync();
}
