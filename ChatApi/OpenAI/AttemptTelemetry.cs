using System.Diagnostics;
using OpenTelemetry.Instrumentation.Http;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>
/// Tags each upstream attempt's HTTP client span with its place in the retry sequence. Neither .NET nor
/// OpenTelemetry sets <c>http.request.resend_count</c>, so the attempt handler leaves the attempt's
/// history in the request options and this enrichment copies it onto the span.
/// </summary>
public static class AttemptTelemetry
{
    public const string ResendCount = "http.request.resend_count";
    public const string PreviousOutcome = "retry.previous_outcome";
    public const string DelayMs = "retry.delay_ms";
    public const string Attempt = "retry.attempt";

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

        activity.SetTag(Attempt, attempt.Number);

        // Semantic conventions: resend_count is absent on the first attempt and 1, 2, ... on resends.
        if (attempt.Number > 1)
        {
            activity.SetTag(ResendCount, attempt.Number - 1);
            activity.SetTag(PreviousOutcome, attempt.PreviousOutcome);
            if (attempt.DelayBefore is { } delay)
            {
                activity.SetTag(DelayMs, (long)delay.TotalMilliseconds);
            }
        }
    }
}
