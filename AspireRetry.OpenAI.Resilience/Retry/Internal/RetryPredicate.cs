using System.Net;
using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>What the retry strategy retries, and the one place that tells the call why the layer stopped early.</summary>
internal static class RetryPredicate
{
    /// <summary>
    /// Retry what is transient, except a 429 for exhausted quota (waiting will not refill it) and a
    /// server wait we cannot honour: beyond <see cref="ResilienceOptions.MaxServerDelay"/> or past what
    /// is left of the total budget, the response goes back at once with the server's wait on it.
    /// With the rate-limit features on, a retry must also fit the shared retry budget (<c>trySpendRetry</c>
    /// takes one: null when taken, else why not). The upstream's <c>x-should-retry</c> overrides the status either
    /// way (a stream is never re-sent after its first token all the same: the pipeline has returned by then).
    /// The one place that tells the call why the layer stopped early.
    /// </summary>
    public static async ValueTask<bool> ShouldRetryAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, ResilienceOptions options, TimeProvider time,
        Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = null, int attemptNumber = 0)
    {
        var (retryable, stop) = await IsRetryableAsync(outcome, context, options, time).ConfigureAwait(false);

        // A later upstream can take the call: it moves there now rather than retry here (the failover says so on the span).
        if (retryable && UpstreamRoute.CurrentCanFailOver)
        {
            return false;
        }

        // Polly asks about the last attempt too; only a retry that would really happen spends the budget.
        if (retryable && trySpendRetry is not null && attemptNumber < options.MaxRetryAttempts && await trySpendRetry(context).ConfigureAwait(false) is { } spent)
        {
            (retryable, stop) = (false, (spent, null));
        }

        if (stop is var (reason, wait))
        {
            CallProgress.Current?.Stopped(reason, wait);
        }

        return retryable;
    }

    /// <summary>Whether the outcome is worth another attempt; when a server wait is what stops it, why and the wait.</summary>
    private static async ValueTask<(bool Retryable, (string Reason, TimeSpan? Wait)? Stop)> IsRetryableAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, ResilienceOptions options, TimeProvider time)
    {
        if (outcome.Exception is { } exception)
        {
            return (UpstreamOutcome.IsTransientException(exception) && !context.CancellationToken.IsCancellationRequested, null);
        }

        if (outcome.Result is not { } response || response.IsSuccessStatusCode)
        {
            return (false, null);
        }

        // The upstream's explicit advice wins over the status, as in OpenAI's own SDKs.
        switch (UpstreamOutcome.ShouldRetry(response))
        {
            case false:
                return (false, UpstreamOutcome.IsTransientStatus(response.StatusCode)
                    ? ($"Not retried: the upstream answered {(int)response.StatusCode} with {UpstreamOutcome.ShouldRetryHeader}: false.", null)
                    : null);
            case null when !UpstreamOutcome.IsTransientStatus(response.StatusCode):
                return (false, null);
            case null when response.StatusCode == HttpStatusCode.TooManyRequests
                && await UpstreamOutcome.ErrorCodeAsync(response, context.CancellationToken).ConfigureAwait(false) == UpstreamOutcome.InsufficientQuota:
                return (false, null);
        }

        if (UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is { } wait)
        {
            var left = CallClock.Left(context, time, options);
            if (wait > options.MaxServerDelay || wait >= left)
            {
                SpanEvents.ServerWaitBeyondBudget(wait, left);
                var reason = wait > options.MaxServerDelay
                    ? $"The upstream asked to wait {TimeSpans.Seconds(wait)}, longer than {ResilienceOptions.SectionName}:MaxServerDelay ({TimeSpans.Seconds(options.MaxServerDelay)})."
                    : $"The upstream asked to wait {TimeSpans.Seconds(wait)}, {CallClock.MoreThanLeft(left)}.";
                return (false, (reason, wait));
            }
        }

        return (true, null);
    }
}
