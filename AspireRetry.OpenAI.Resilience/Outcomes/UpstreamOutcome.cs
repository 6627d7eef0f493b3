using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Reads an upstream outcome the way OpenAI documents it: the status, the error body's
/// <c>error.code</c>/<c>error.type</c>, and the server's wait (<c>retry-after-ms</c>, then
/// <c>retry-after</c> as seconds or an HTTP date). Pure functions, so the rules are unit-testable.
/// </summary>
public static class UpstreamOutcome
{
    /// <summary>OpenAI's precise server wait, in milliseconds.</summary>
    public const string RetryAfterMsHeader = "retry-after-ms";

    /// <summary>Azure OpenAI's precise server wait, in milliseconds (its SDK reads it after <c>retry-after-ms</c>).</summary>
    public const string AzureRetryAfterMsHeader = "x-ms-retry-after-ms";

    /// <summary>HTTP's server wait, in seconds or as a date.</summary>
    public const string RetryAfterHeader = "retry-after";

    /// <summary>The error code of a 429 that waiting will not fix: the account's quota is used up.</summary>
    public const string InsufficientQuota = "insufficient_quota";

    /// <summary>
    /// OpenAI's explicit advice, which openai-python and openai-node obey before the status code:
    /// <c>false</c> means never retry (even a 429 or a 5xx), <c>true</c> means retry (even a status that is otherwise final).
    /// </summary>
    public const string ShouldRetryHeader = "x-should-retry";

    /// <summary>The <c>x-should-retry</c> advice of a response: true, false, or null when it gave none (or an unreadable value).</summary>
    public static bool? ShouldRetry(HttpResponseMessage response) =>
        response.Headers.TryGetValues(ShouldRetryHeader, out var values) ? values.FirstOrDefault()?.Trim().ToLowerInvariant() switch
        {
            "true" => true,
            "false" => false,
            _ => null,
        }
        : null;

    /// <summary>Statuses that say "try again"; everything else from the upstream is final.</summary>
    public static bool IsTransientStatus(HttpStatusCode status) => status is
        HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
        or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>Connection failures and attempt timeouts are transient; a caller's cancellation and an open breaker are not.</summary>
    public static bool IsTransientException(Exception exception) => exception switch
    {
        BrokenCircuitException => false,
        RateLimitGateRejectedException => false,
        RequestTooLargeException => false,
        TimeoutRejectedException => true,
        HttpRequestException => true,
        OperationCanceledException => false,
        _ => false,
    };

    /// <summary>
    /// The wait the server asked for: <c>retry-after-ms</c> wins (OpenAI's precise form), then Azure's
    /// <c>x-ms-retry-after-ms</c>, then <c>retry-after</c> in seconds or as an HTTP date (read by
    /// <see cref="HttpResponseHeaders.RetryAfter"/>). Null when it named none.
    /// </summary>
    public static TimeSpan? ServerDelay(HttpResponseMessage response, DateTimeOffset now) =>
        RetryAfterMs(response.Headers.TryGetValues(RetryAfterMsHeader, out var ms) ? ms.FirstOrDefault() : null)
        ?? RetryAfterMs(response.Headers.TryGetValues(AzureRetryAfterMsHeader, out var azure) ? azure.FirstOrDefault() : null)
        ?? Wait(response.Headers.RetryAfter, now);

    /// <summary>As <see cref="ServerDelay(HttpResponseMessage, DateTimeOffset)"/>, from the two headers' raw values (e.g. of an SDK's response).</summary>
    public static TimeSpan? ServerDelay(string? retryAfterMs, string? retryAfter, DateTimeOffset now) =>
        ServerDelay(retryAfterMs, null, retryAfter, now);

    /// <summary>As <see cref="ServerDelay(HttpResponseMessage, DateTimeOffset)"/>, from the three headers' raw values (e.g. of an SDK's response).</summary>
    public static TimeSpan? ServerDelay(string? retryAfterMs, string? azureRetryAfterMs, string? retryAfter, DateTimeOffset now) =>
        RetryAfterMs(retryAfterMs)
        ?? RetryAfterMs(azureRetryAfterMs)
        ?? (RetryConditionHeaderValue.TryParse(retryAfter, out var parsed) ? Wait(parsed, now) : null);

    private static TimeSpan? RetryAfterMs(string? value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0 ? TimeSpan.FromMilliseconds(ms) : null;

    private static TimeSpan? Wait(RetryConditionHeaderValue? retryAfter, DateTimeOffset now) => retryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
        _ => null,
    };

    /// <summary>
    /// The OpenAI error code of a failed response (e.g. <c>insufficient_quota</c>), read from a buffered
    /// copy of the body so the SDK can still read it for the caller.
    /// </summary>
    public static async ValueTask<string?> ErrorCodeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return null;
        }

        await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return ParseErrorCode(body);
    }

    /// <summary>The OpenAI error code in an error body (<c>error.code</c>, else <c>error.type</c>); null when the body is not OpenAI's error shape.</summary>
    public static string? ParseErrorCode(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.Object)
            {
                // OpenAI puts the precise reason in "code" and sometimes only in "type" (insufficient_quota).
                foreach (var name in (string[])["code", "type"])
                {
                    if (error.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                        && value.GetString() is { Length: > 0 } text && text != "requests" && text != "tokens")
                    {
                        return text;
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not OpenAI's error shape (a proxy's HTML page, say): the status alone decides.
        }

        return null;
    }

    /// <summary>A short human reason for an outcome: "429 rate_limit_exceeded", "503", "connection failed", "attempt timeout".</summary>
    public static string Describe(Outcome<HttpResponseMessage> outcome, string? errorCode = null) =>
        outcome.Exception is { } ex ? DescribeException(ex)
        : outcome.Result is { } r ? errorCode is null ? ((int)r.StatusCode).ToString(CultureInfo.InvariantCulture) : $"{(int)r.StatusCode} {errorCode}"
        : "unknown";

    /// <summary>A short human reason for a failed attempt's exception ("attempt timeout", "connection reset").</summary>
    public static string DescribeException(Exception exception) => exception switch
    {
        TimeoutRejectedException => "attempt timeout",
        BrokenCircuitException => "circuit open",
        RateLimitGateRejectedException => "rate limit wait beyond budget",
        RequestTooLargeException => "request larger than the token limit",
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => "connection failed",
        HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded } => "connection reset",
        HttpRequestException => "connection error",
        OperationCanceledException => "cancelled",
        _ => exception.GetType().Name,
    };
}
