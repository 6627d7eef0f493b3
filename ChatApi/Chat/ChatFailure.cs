using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// A failed chat call as the caller should see it: the status we answer with (not the upstream's),
/// a title and detail a person understands, and the wait to pass on when one is known.
/// Never carries the upstream's raw message for auth errors: OpenAI echoes part of the key there.
/// </summary>
public sealed record ChatFailure(int Status, string Title, string Detail, TimeSpan? RetryAfter, string ErrorType)
{
    /// <summary>The upstream was down, slow or unreachable, as opposed to refusing this request.</summary>
    public bool IsTransient => ErrorType is "upstream_unavailable" or "timeout" or "connection_error" or "circuit_open" or "rate_limited";

    /// <summary>A stream whose upstream sent nothing for the idle timeout after its answer began.</summary>
    public static ChatFailure StreamStalled(TimeSpan idleTimeout) => new(StatusCodes.Status504GatewayTimeout, "Stream stalled",
        $"The model provider sent nothing for {idleTimeout.TotalSeconds:0.###} s (OpenAI:Resilience:StreamIdleTimeout); the reply above is incomplete.",
        null, "stream_idle_timeout");

    /// <summary>A stream whose connection broke after its first token; never re-sent, so the partial reply stays.</summary>
    public static ChatFailure BrokenMidReply { get; } = new(StatusCodes.Status502BadGateway, "Stream interrupted",
        "The connection to the model provider broke in the middle of the reply; the reply above is incomplete. It was not re-sent, so nothing is duplicated.",
        null, "stream_broken");

    /// <summary>ChatApi itself failed; the caller still gets an ending it can show.</summary>
    public static ChatFailure Unexpected { get; } = new(StatusCodes.Status500InternalServerError, "Unexpected error",
        "ChatApi failed in an unexpected way; the details are in its logs under this trace id.", null, "internal_error");

    /// <summary>How the caller should see what a call threw; null when it is no upstream failure (a cancellation, a bug).</summary>
    public static ChatFailure? From(Exception exception, CallProgress progress)
    {
        for (var failure = UpstreamFailure.Classify(exception); failure is not null; failure = UpstreamFailure.Classify(failure.Exception.InnerException))
        {
            if (From(failure, progress) is { } named)
            {
                return named;
            }
        }

        return null;
    }

    private static ChatFailure? From(UpstreamFailure failure, CallProgress progress)
    {
        var attempts = progress.Attempts;
        var status = failure.Status;
        var code = failure.ErrorCode;
        return failure.Kind switch
        {
            UpstreamFailureKind.Down when failure.Exception is UpstreamDownException down =>
                // The call waited for the upstream to recover as long as it could; the next check is further away.
                new(StatusCodes.Status503ServiceUnavailable, "Upstream is down", down.Message, failure.RetryAfter, "circuit_open"),
            UpstreamFailureKind.Down =>
                new(StatusCodes.Status503ServiceUnavailable, "Upstream is down",
                    "Recent calls to the model provider failed, so the circuit breaker is open.",
                    failure.RetryAfter, "circuit_open"),
            UpstreamFailureKind.GateClosed =>
                new(StatusCodes.Status429TooManyRequests, "Upstream rate limited", failure.Exception.Message, failure.RetryAfter, "rate_limited"),
            UpstreamFailureKind.RequestTooLarge =>
                // Waiting never helps: the whole token bucket is smaller than the request.
                new(StatusCodes.Status413PayloadTooLarge, "Request too large", failure.Exception.Message, null, "request_too_large"),
            UpstreamFailureKind.TimedOut =>
                new(StatusCodes.Status504GatewayTimeout, "Upstream timed out",
                    progress.StopReason ?? "The model provider did not answer within the time budget (OpenAI:Resilience:AttemptTimeout / TotalTimeout).",
                    null, "timeout"),
            UpstreamFailureKind.QuotaExhausted =>
                new(StatusCodes.Status502BadGateway, "Upstream quota exhausted",
                    "The model provider says the account's quota is used up (insufficient_quota). Retrying will not help; check the plan and billing.",
                    null, "insufficient_quota"),
            UpstreamFailureKind.RateLimited =>
                new(StatusCodes.Status429TooManyRequests, "Upstream rate limited",
                    progress.StopReason ?? $"The model provider is rate limiting calls; still limited after {attempts} attempt(s).",
                    progress.StopRetryAfter ?? failure.RetryAfter, "rate_limited"),
            UpstreamFailureKind.KeyRejected =>
                new(StatusCodes.Status502BadGateway, "Upstream rejected the API key",
                    $"The model provider answered {status}: the key in ConnectionStrings:openai is missing, wrong or not allowed to use this model.",
                    null, "invalid_api_key"),
            UpstreamFailureKind.Unavailable =>
                new(StatusCodes.Status503ServiceUnavailable, "Upstream unavailable",
                    progress.StopReason ?? $"The model provider answered {status} to each of {attempts} attempt(s).",
                    progress.StopRetryAfter ?? failure.RetryAfter, "upstream_unavailable"),
            UpstreamFailureKind.RequestInvalid or UpstreamFailureKind.Refused =>
                new(StatusCodes.Status502BadGateway, "Upstream rejected the request",
                    attempts > 1
                        // Retried only because the provider said so (x-should-retry: true), and it kept answering the same.
                        ? $"The model provider answered {status}{(code is null ? "" : $" ({code})")} to each of {attempts} attempt(s)."
                        : $"The model provider answered {status}{(code is null ? "" : $" ({code})")}; this is not retried.",
                    null, code ?? "upstream_error"),
            UpstreamFailureKind.Unreachable =>
                new(StatusCodes.Status503ServiceUnavailable, "Upstream unreachable",
                    progress.StopReason ?? $"Could not reach the model provider ({UpstreamOutcome.DescribeException(failure.Exception)}) after {attempts} attempt(s).",
                    null, "connection_error"),
            UpstreamFailureKind.StreamBroken =>
                // The answer had begun (headers received) when the connection broke: not re-sent, as the
                // provider may already be generating, and billing, the reply.
                new(StatusCodes.Status502BadGateway, "Stream interrupted",
                    "The connection to the model provider broke while its answer was arriving. It was not re-sent; try again.",
                    null, "stream_broken"),
            // A cancellation is no failure to explain to the caller; what it wraps may be.
            _ => null,
        };
    }
}
