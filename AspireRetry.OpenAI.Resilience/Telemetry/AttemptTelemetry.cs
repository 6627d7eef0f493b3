using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Instrumentation.Http;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Tags each upstream attempt's HTTP client span with its place in the retry sequence. Neither .NET nor
/// OpenTelemetry sets <c>http.request.resend_count</c>, so the attempt handler leaves the attempt's
/// history in the request options and this enrichment of OpenTelemetry's HttpClient instrumentation
/// copies it onto the span.
/// </summary>
internal static class AttemptTelemetry
{
    public static IServiceCollection AddAttemptTelemetry(this IServiceCollection services) =>
        services.Configure<HttpClientTraceInstrumentationOptions>(options =>
        {
            var previous = options.EnrichWithHttpRequestMessage;
            options.EnrichWithHttpRequestMessage = (activity, request) =>
            {
                previous?.Invoke(activity, request);
                Tag(activity, request);
            };
        });

    internal static void Tag(Activity activity, HttpRequestMessage request)
    {
        if (!request.Options.TryGetValue(AttemptHandler.AttemptKey, out var attempt))
        {
            return;
        }

        activity.SetTag(Attempt.Number, attempt.Number);
        if (request.Options.TryGetValue(RateLimitGateStrategy.EstimatedTokensKey, out var tokens))
        {
            activity.SetTag(Attempt.EstimatedTokens, tokens);
        }

        if (CallRoute.Current?.Upstream?.Name is { } upstream)
        {
            activity.SetTag(Attempt.Upstream, upstream);
        }

        // Semantic conventions: resend_count is absent on the first attempt and 1, 2, ... on resends.
        if (attempt.Number > 1)
        {
            activity.SetTag(Attempt.ResendCount, attempt.Number - 1);
            activity.SetTag(Attempt.PreviousOutcome, attempt.PreviousOutcome);
            if (attempt.DelayBefore is { } delay)
            {
                activity.SetTag(Attempt.DelayMs, (long)delay.TotalMilliseconds);
            }
        }
    }
}
