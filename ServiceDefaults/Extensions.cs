using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Cross-cutting plumbing every AspireRetry service shares: OpenTelemetry, health checks and
/// service discovery. Deliberately no blanket resilience handler: the only HttpClient that retries
/// is ChatApi's "openai" client, so retries never stack across layers.
/// </summary>
public static class Extensions
{
    internal const string HealthEndpointPath = "/health";
    internal const string AlivenessEndpointPath = "/alive";

    /// <summary>Telemetry names every service listens to, beyond the ASP.NET Core and HttpClient ones.</summary>
    public static class TelemetryNames
    {
        /// <summary>Polly's meter: resilience events (retries, breaker transitions) and attempt durations.</summary>
        public const string PollyMeter = "Polly";

        /// <summary>Microsoft.Extensions.AI's UseOpenTelemetry source: the GenAI "chat {model}" spans.</summary>
        public const string ExtensionsAiSource = "Experimental.Microsoft.Extensions.AI";

        /// <summary>The source and meter of AspireRetry's own spans, events and instruments.</summary>
        public const string AspireRetry = "AspireRetry";
    }

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();

        // Service discovery on every client (so "http://chatapi" resolves); no resilience here on
        // purpose: a client that should retry opts in where it is registered.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddServiceDiscovery());

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetryNames.PollyMeter, TelemetryNames.ExtensionsAiSource, TelemetryNames.AspireRetry))
            .WithTracing(tracing => tracing
                // Aspire asks for "always_on" in Development (OTEL_TRACES_SAMPLER), which records a span
                // even under a parent that said "not sampled". Parent-based keeps every trace that starts
                // here and lets a call marked untraced (TraceNoise.Untraced) stay untraced downstream.
                .SetSampler(new ParentBasedSampler(new AlwaysOnSampler()))
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TelemetryNames.ExtensionsAiSource, TelemetryNames.AspireRetry)
                .AddAspNetCoreInstrumentation(options =>
                {
                    options.Filter = TraceNoise.IsTracedRequest;

                    // Blazor Server talks over one SignalR hub: a span per hub call is a trace per
                    // render of every streamed delta. The component spans (the click, the submit)
                    // tell what happened; the hub calls under them are transport.
                    options.EnableAspNetCoreSignalRSupport = false;
                })
                .AddHttpClientInstrumentation()
                .AddProcessor(new TraceNoise.BlazorPlumbingFilter()));

        builder.AddOpenTelemetryExporters();
        return builder;
    }

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var useOtlpExporter = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        if (useOtlpExporter)
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Health endpoints are mapped in every environment: the AppHost's health checks and the
        // tests use them. They reveal nothing but "Healthy".
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains("live"),
        });
        return app;
    }
}
