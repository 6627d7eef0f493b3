using System.Diagnostics;
using System.Globalization;
using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.RateLimiting;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>The response headers OpenAI sends, which clients use to pace and retry.</summary>
public static class OpenAIHeaders
{
    public const string RequestId = "x-request-id";

    private const string RequestIdItem = "emulator.request-id";

    /// <summary>Every response gets <c>x-request-id</c>; <c>openai-processing-ms</c> is stamped when headers go out.</summary>
    public static IApplicationBuilder UseOpenAIResponseHeaders(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var id = "req_" + Guid.NewGuid().ToString("N");
        context.Items[RequestIdItem] = id;
        context.Response.Headers[RequestId] = id;
        context.Response.Headers["openai-version"] = "2020-10-01";
        var started = Stopwatch.GetTimestamp();
        context.Response.OnStarting(() =>
        {
            var elapsed = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            context.Response.Headers["openai-processing-ms"] = elapsed.ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        await next(context);
    });

    public static string? GetRequestId(this HttpContext context) => context.Items[RequestIdItem] as string;

    /// <summary>OpenAI's explicit retry advice, read by its own SDKs before the status code.</summary>
    public const string ShouldRetry = "x-should-retry";

    /// <summary>The decision's <c>x-ratelimit-*</c> headers, in the profile's style: all six, the remaining counts only, or none.</summary>
    public static void AddRateLimitHeaders(this HttpResponse response, ChaosDecision decision)
    {
        if (decision.RateLimitHeaders == RateLimitHeaderStyle.None)
        {
            return;
        }

        var snapshot = decision.RateLimit.Snapshot;
        var headers = response.Headers;
        headers["x-ratelimit-remaining-requests"] = snapshot.RemainingRequests.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-tokens"] = snapshot.RemainingTokens.ToString(CultureInfo.InvariantCulture);
        if (decision.RateLimitHeaders == RateLimitHeaderStyle.Full)
        {
            headers["x-ratelimit-limit-requests"] = snapshot.LimitRequests.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-requests"] = FormatDuration(snapshot.ResetRequests);
            headers["x-ratelimit-limit-tokens"] = snapshot.LimitTokens.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-tokens"] = FormatDuration(snapshot.ResetTokens);
        }
    }

    public static void AddRetryAfterHeaders(this HttpResponse response, RetryAdvice advice)
    {
        if (advice.RetryAfterMs is { } ms)
        {
            response.Headers[RetryAdvice.RetryAfterMsHeader] = ms.ToString(CultureInfo.InvariantCulture);
        }

        if (advice.RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = retryAfter;
        }

        if (advice.XMsRetryAfterMs is { } xMs)
        {
            response.Headers[RetryAdvice.XMsRetryAfterMsHeader] = xMs.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// OpenAI's reset format (Go durations): <c>20ms</c>, <c>1s</c>, <c>1.5s</c>, <c>6m0s</c>, <c>1h2m3s</c>.
    /// Rounded up to the millisecond, so waiting the stated time is always enough.
    /// </summary>
    public static string FormatDuration(TimeSpan duration)
    {
        var totalMs = TokenBucket.CeilingMilliseconds(duration);
        if (totalMs == 0)
        {
            return "0s";
        }

        if (totalMs < 1000)
        {
            return totalMs.ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var hours = totalMs / 3_600_000;
        var minutes = totalMs / 60_000 % 60;
        var seconds = (totalMs % 60_000 / 1000.0).ToString("0.###", CultureInfo.InvariantCulture) + "s";
        return hours > 0 ? $"{hours}h{minutes}m{seconds}"
            : minutes > 0 ? $"{minutes}m{seconds}"
            : seconds;
    }
}
