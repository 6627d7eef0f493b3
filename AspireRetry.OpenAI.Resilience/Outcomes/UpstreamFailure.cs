using System.ClientModel;
using System.Net;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// A failed call to the upstream, named once for everyone who acts on it: the failover (may another upstream do
/// better?) and the app that tells its caller what happened (which status, which words, which Retry-After).
/// </summary>
/// <param name="Kind">What went wrong.</param>
/// <param name="Status">The upstream's HTTP status, when it answered.</param>
/// <param name="ErrorCode">The OpenAI error code of the upstream's answer (<c>error.code</c>, else <c>error.type</c>), when it had one.</param>
/// <param name="RetryAfter">
/// The wait the failure names, when it names one: the server's (<c>retry-after-ms</c>, then <c>retry-after</c>), the
/// time until a down upstream's next check, or how long our gate would have held the call.
/// </param>
/// <param name="Exception">The exception that says what went wrong: the one thrown or one of its inner exceptions.</param>
public sealed record UpstreamFailure(UpstreamFailureKind Kind, int? Status, string? ErrorCode, TimeSpan? RetryAfter, Exception Exception)
{
    /// <summary>
    /// Names the failure behind <paramref name="exception"/>: the first exception of the chain (it, then each
    /// <see cref="Exception.InnerException"/>) that says what went wrong. Null for null, and when none does (a bug, say).
    /// </summary>
    /// <param name="exception">What the call threw.</param>
    /// <param name="time">The clock a <c>retry-after</c> given as an HTTP date is read against; the system's when null.</param>
    public static UpstreamFailure? Classify(Exception? exception, TimeProvider? time = null)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (Name(ex, time ?? TimeProvider.System) is { } failure)
            {
                return failure;
            }
        }

        return null;
    }

    private static UpstreamFailure? Name(Exception exception, TimeProvider time) => exception switch
    {
        // An UpstreamDownException is one too, carrying the time to the check it could not wait for.
        BrokenCircuitException down => new(UpstreamFailureKind.Down, null, null, down.RetryAfter, exception),
        RateLimitGateRejectedException gate => new(UpstreamFailureKind.GateClosed, null, null, gate.Wait, exception),
        RequestTooLargeException => new(UpstreamFailureKind.RequestTooLarge, null, null, null, exception),
        TimeoutRejectedException => new(UpstreamFailureKind.TimedOut, null, null, null, exception),
        // Status 0: the SDK never had an answer; an inner exception says why.
        ClientResultException { Status: > 0 } answered => Answered(answered, time),
        HttpRequestException => new(UpstreamFailureKind.Unreachable, null, null, null, exception),
        IOException => new(UpstreamFailureKind.StreamBroken, null, null, null, exception),
        OperationCanceledException => new(UpstreamFailureKind.Cancelled, null, null, null, exception),
        _ => null,
    };

    private static UpstreamFailure Answered(ClientResultException exception, TimeProvider time)
    {
        var response = exception.GetRawResponse();
        var code = response is null ? null : UpstreamOutcome.ParseErrorCode(response.Content.ToString());
        var wait = response is null ? null : UpstreamOutcome.ServerDelay(
            response.Headers.TryGetValue(UpstreamOutcome.RetryAfterMsHeader, out var ms) ? ms : null,
            response.Headers.TryGetValue(UpstreamOutcome.AzureRetryAfterMsHeader, out var azure) ? azure : null,
            response.Headers.TryGetValue(UpstreamOutcome.RetryAfterHeader, out var after) ? after : null,
            time.GetUtcNow());
        var kind = (HttpStatusCode)exception.Status switch
        {
            HttpStatusCode.TooManyRequests when code == UpstreamOutcome.InsufficientQuota => UpstreamFailureKind.QuotaExhausted,
            HttpStatusCode.TooManyRequests => UpstreamFailureKind.RateLimited,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => UpstreamFailureKind.KeyRejected,
            var status when UpstreamOutcome.IsTransientStatus(status) => UpstreamFailureKind.Unavailable,
            HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => UpstreamFailureKind.RequestInvalid,
            _ => UpstreamFailureKind.Refused,
        };
        return new(kind, exception.Status, code, wait, exception);
    }
}
