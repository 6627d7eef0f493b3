using System.ClientModel;
using System.Net;
using AspireRetry.OpenAI.Resilience;
using Polly.CircuitBreaker;
using Polly.Timeout;

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

    public static ChatFailure? From(Exception exception, CallProgress progress)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case UpstreamDownException down:
                    // The call waited for the upstream to recover as long as it could; the next check is further away.
                    return new(StatusCodes.Status503ServiceUnavailable, "Upstream is down", down.Message, down.RetryAfter, "circuit_open");
                case BrokenCircuitException broken:
                    return new(StatusCodes.Status503ServiceUnavailable, "Upstream is down",
                        "Recent calls to the model provider failed, so the circuit breaker is open.",
                        broken.RetryAfter, "circuit_open");
                case RateLimitGateRejectedException limited:
                    return new(StatusCodes.Status429TooManyRequests, "Upstream rate limited", limited.Message, limited.Wait, "rate_limited");
                case TimeoutRejectedException:
                    return new(StatusCodes.Status504GatewayTimeout, "Upstream timed out",
                        progress.StopReason ?? "The model provider did not answer within the time budget (OpenAI:Resilience:AttemptTimeout / TotalTimeout).",
                        null, "timeout");
                case ClientResultException { Status: > 0 } result:
                    return FromUpstreamStatus(result, progress);
                case HttpRequestException:
                    return new(StatusCodes.Status503ServiceUnavailable, "Upstream unreachable",
                        progress.StopReason ?? $"Could not reach the model provider ({UpstreamOutcome.DescribeException(ex)}) after {progress.Attempts} attempt(s).",
                        null, "connection_error");
                case IOException:
                    // The answer had begun (headers received) when the connection broke: not re-sent, as the
                    // provider may already be generating, and billing, the reply.
                    return new(StatusCodes.Status502BadGateway, "Stream interrupted",
                        "The connection to the model provider broke while its answer was arriving. It was not re-sent; try again.",
                        null, "stream_broken");
            }
        }

        return null;
    }

    private static ChatFailure FromUpstreamStatus(ClientResultException exception, CallProgress progress)
    {
        var response = exception.GetRawResponse();
        string? code = null;
        TimeSpan? wait = progress.StopRetryAfter;
        if (response is not null)
        {
            code = UpstreamOutcome.ParseErrorCode(response.Content.ToString());
            wait ??= ServerDelay(response);
        }

        var status = (HttpStatusCode)exception.Status;
        var attempts = progress.Attempts;
        return status switch
        {
            HttpStatusCode.TooManyRequests when code == UpstreamOutcome.InsufficientQuota =>
                new(StatusCodes.Status502BadGateway, "Upstream quota exhausted",
                    "The model provider says the account's quota is used up (insufficient_quota). Retrying will not help; check the plan and billing.",
                    null, "insufficient_quota"),
            HttpStatusCode.TooManyRequests =>
                new(StatusCodes.Status429TooManyRequests, "Upstream rate limited",
                    progress.StopReason ?? $"The model provider is rate limiting calls; still limited after {attempts} attempt(s).",
                    wait, "rate_limited"),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                new(StatusCodes.Status502BadGateway, "Upstream rejected the API key",
                    $"The model provider answered {(int)status}: the key in ConnectionStrings:openai is missing, wrong or not allowed to use this model.",
                    null, "invalid_api_key"),
            _ when UpstreamOutcome.IsTransientStatus(status) =>
                new(StatusCodes.Status503ServiceUnavailable, "Upstream unavailable",
                    progress.StopReason ?? $"The model provider answered {(int)status} to each of {attempts} attempt(s).",
                    wait, "upstream_unavailable"),
            _ =>
                new(StatusCodes.Status502BadGateway, "Upstream rejected the request",
                    attempts > 1
                        // Retried only because the provider said so (x-should-retry: true), and it kept answering the same.
                        ? $"The model provider answered {(int)status}{(code is null ? "" : $" ({code})")} to each of {attempts} attempt(s)."
                        : $"The model provider answered {(int)status}{(code is null ? "" : $" ({code})")}; this is not retried.",
                    null, code ?? "upstream_error"),
        };
    }

    private static TimeSpan? ServerDelay(System.ClientModel.Primitives.PipelineResponse response) => UpstreamOutcome.ServerDelay(
        response.Headers.TryGetValue(UpstreamOutcome.RetryAfterMsHeader, out var ms) ? ms : null,
        response.Headers.TryGetValue(UpstreamOutcome.RetryAfterHeader, out var after) ? after : null,
        DateTimeOffset.UtcNow);
}
