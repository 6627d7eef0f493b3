using System.Diagnostics.Metrics;
using System.Globalization;
using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Upstream;
using AspireRetry.ChatApi.Chat;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using AspireRetry.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.Bench.Strategies;

/// <summary>
/// AspireRetry's policy from the retry library itself, not a copy: a host wired by the library's one
/// entry point (<c>AddResilientOpenAI()</c>) beside ServiceDefaults' OpenTelemetry, as ChatApi is, and each
/// call made through the library's chat client inside a <see cref="CallProgress"/>, as ChatApi's
/// <c>POST /api/chat</c> makes it. Embeddings through the library's embedding generator (<c>AddEmbeddingGenerator</c>),
/// so its gate reserves their tokens and its batching applies. Failures are named as ChatApi names them
/// (<see cref="ChatFailure"/>). Only the time scale is applied to the default <see cref="ResilienceOptions"/>.
/// </summary>
public sealed class AspireRetryPolicy(
    IHost host, ResilientChatClients clients, IEmbeddingGenerator<string, Embedding<float>> embeddings, EstimateRatios estimates) : IStrategy
{
    /// <param name="recordAttempts">Adds the attempt recorder inside the pipeline; off for the overhead benchmark.</param>
    public static Task<AspireRetryPolicy> CreateAsync(Uri endpoint, TimeScale scale, bool recordAttempts) =>
        CreateAsync([endpoint], scale, recordAttempts);

    /// <param name="endpoints">The upstreams in priority order: connection strings <c>openai</c>, <c>openai-2</c>, ...</param>
    /// <param name="scale">The run's time scale.</param>
    /// <param name="recordAttempts">Adds the attempt recorder inside the pipeline; off for the overhead benchmark.</param>
    public static async Task<AspireRetryPolicy> CreateAsync(IReadOnlyList<Uri> endpoints, TimeScale scale, bool recordAttempts)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            // No appsettings or console logging: configuration comes from below, and only OpenTelemetry (from ServiceDefaults) listens.
            DisableDefaults = true,
            EnvironmentName = Environments.Production,
            ApplicationName = "ChatApi",
        });
        builder.Configuration.AddInMemoryCollection(Settings(endpoints[0], scale));
        for (var i = 1; i < endpoints.Count; i++)
        {
            builder.Configuration[$"ConnectionStrings:{OpenAIUpstreams.NameAt(OpenAIConnection.Name, i + 1)}"] = $"Endpoint={endpoints[i]};Key={OpenAISdk.Key}";
        }


        builder.AddServiceDefaults();
        var openAI = builder.AddResilientOpenAI();
        openAI.AddEmbeddingGenerator(OpenAISdk.EmbeddingModel);
        builder.Services.IgnoreEmulatorRequests();
        if (recordAttempts)
        {
            // Handlers added to the library's client land inside the resilience pipeline: once per attempt.
            openAI.HttpClient.AddHttpMessageHandler(() => new RecordingHandler());
        }

        var host = builder.Build();
        await host.StartAsync();
        return new AspireRetryPolicy(host, host.Services.GetRequiredService<ResilientChatClients>(),
            host.Services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>(),
            new EstimateRatios(host.Services.GetRequiredService<IMeterFactory>()));
    }

    /// <summary>The library's own estimate error (<c>aspireretry.tokens.estimate_ratio</c>) for this host's calls.</summary>
    public EstimateRatios Estimates => estimates;

    /// <summary>For the report, from ChatApi's own defaults, so it cannot drift from them.</summary>
    public static string Description
    {
        get
        {
            var d = new ResilienceOptions();
            return string.Create(CultureInfo.InvariantCulture,
                $"the AspireRetry.OpenAI.Resilience library's chat client, embedding generator and \"openai\" HttpClient pipeline (AddResilientOpenAI) with its default OpenAI:Resilience options: " +
                $"{d.MaxRetryAttempts} retries from {d.BaseDelay.TotalSeconds:0.###} s, exponential{(d.UseJitter ? " with jitter" : "")}, " +
                $"server waits (`retry-after-ms`, then `Retry-After`) plus {OpenAIResilience.ServerDelayMargin.TotalMilliseconds:0} ms, " +
                $"no retry of `insufficient_quota`, {d.AttemptTimeout.TotalSeconds:0.###} s attempt and {d.TotalTimeout.TotalSeconds:0.###} s total timeouts, " +
                $"circuit breaker per upstream and model ({d.CircuitBreaker.FailureRatio:0%} of at least {d.CircuitBreaker.MinimumThroughput} attempts, " +
                $"a call that meets it open waits up to {d.CircuitBreaker.MaxRecoveryWait.TotalSeconds:0.###} s for the upstream to recover, checked from {d.CircuitBreaker.BreakDuration.TotalSeconds / 4:0.###} s up to every {d.CircuitBreaker.BreakDuration.TotalSeconds:0.###} s)");
        }
    }

    /// <summary>The library's defaults (read from its <see cref="ResilienceOptions"/>), every time in them scaled.</summary>
    public static Dictionary<string, string?> Settings(Uri endpoint, TimeScale scale)
    {
        var defaults = new ResilienceOptions();
        const string p = ResilienceOptions.SectionName;
        return new()
        {
            ["ConnectionStrings:openai"] = $"Endpoint={endpoint};Key={OpenAISdk.Key}",
            ["OpenAI:Models:0"] = OpenAISdk.Model,
            [$"{p}:BaseDelay"] = Time(scale.Scale(defaults.BaseDelay)),
            [$"{p}:MaxDelay"] = Time(scale.Scale(defaults.MaxDelay)),
            [$"{p}:MaxServerDelay"] = Time(scale.Scale(defaults.MaxServerDelay)),
            [$"{p}:AttemptTimeout"] = Time(scale.Scale(defaults.AttemptTimeout)),
            [$"{p}:StreamIdleTimeout"] = Time(scale.Scale(defaults.StreamIdleTimeout)),
            [$"{p}:TotalTimeout"] = Time(scale.Scale(defaults.TotalTimeout)),
            [$"{p}:CircuitBreaker:SamplingDuration"] = Time(scale.Scale(defaults.CircuitBreaker.SamplingDuration)),
            // The library's validator wants at least 100 ms.
            [$"{p}:CircuitBreaker:BreakDuration"] = Time(TimeSpans.Max(scale.Scale(defaults.CircuitBreaker.BreakDuration), TimeSpan.FromMilliseconds(100))),
            [$"{p}:CircuitBreaker:MaxRecoveryWait"] = Time(scale.Scale(defaults.CircuitBreaker.MaxRecoveryWait)),
            // Unscaled, the spacing of calls released by a gate that knows no refill rate was 5 scenario seconds' worth
            // of 100 ms: slower than the storm's bucket, so no 429 ever taught the gate the real, shorter interval.
            [$"{p}:RateLimit:ReleaseInterval"] = Time(scale.Scale(defaults.RateLimit.ReleaseInterval)),
        };
    }

    public async Task<string?> ChatAsync(string prompt, CancellationToken cancellationToken)
    {
        var progress = new CallProgress(OpenAISdk.Model);
        using var scope = progress.Enter();
        try
        {
            var response = await clients.Get(OpenAISdk.Model).GetResponseAsync(prompt, cancellationToken: cancellationToken);
            return response.Text.Length > 0 ? null : "empty reply";
        }
        catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
        {
            return $"{failure.Status} {failure.ErrorType}";
        }
    }

    public async Task<string?> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        var progress = new CallProgress(OpenAISdk.EmbeddingModel);
        using var scope = progress.Enter();
        try
        {
            var generated = await embeddings.GenerateAsync(inputs, cancellationToken: cancellationToken);
            return generated.Count == inputs.Count ? null : $"{generated.Count} embeddings for {inputs.Count} inputs";
        }
        catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
        {
            return $"{failure.Status} {failure.ErrorType}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        Estimates.Dispose();
        await host.StopAsync();
        host.Dispose();
    }

    private static string Time(TimeSpan t) => t.ToString("c", CultureInfo.InvariantCulture);
}
