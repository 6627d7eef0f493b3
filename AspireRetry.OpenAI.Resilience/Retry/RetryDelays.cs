using System.Net;
using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// How long to wait before a retry. A server-named wait wins (plus <see cref="OpenAIResilience.ServerDelayMargin"/>).
/// Otherwise, a 5xx that came back fast is retried almost at once: the first retry waits about as long as the
/// failed attempt took (at least <see cref="MinFastDelay"/>, at most <see cref="ResilienceOptions.BaseDelay"/>,
/// with jitter), and the retries after it back off exponentially from half of <c>BaseDelay</c> (0.5 s, 1 s, 2 s
/// with the defaults: openai-python's own schedule). Anything else gets Polly's exponential backoff from
/// <c>BaseDelay</c>. The retry budget and the circuit breaker bound what fast retries can cost an unhealthy upstream.
/// </summary>
internal static class RetryDelays
{
    /// <summary>The shortest fast retry: spreads concurrent callers' retries even when the failure took no time at all.</summary>
    public static readonly TimeSpan MinFastDelay = TimeSpan.FromMilliseconds(10);

    // Set when a call's first retry went fast: its later retries back off from half the base delay.
    private static readonly ResiliencePropertyKey<bool> FastKey = new("aspireretry.retry.fast");

    /// <summary>The delay before retry <paramref name="attemptNumber"/> (0 for the first retry); null leaves it to Polly's backoff.</summary>
    public static TimeSpan? Next(Outcome<HttpResponseMessage> outcome, ResilienceContext context, int attemptNumber, ResilienceOptions options, TimeProvider time)
    {
        if (outcome.Result is { } response && UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is { } wait)
        {
            return wait + OpenAIResilience.ServerDelayMargin;
        }

        if (attemptNumber == 0)
        {
            if (outcome.Result is { } failed && IsServerError(failed.StatusCode)
                && AttemptClock.Elapsed(context, time) is { } took && took < options.BaseDelay)
            {
                context.Properties.Set(FastKey, true);
                return Jitter(took < MinFastDelay ? MinFastDelay : took, 0.5, options);
            }

            context.Properties.Set(FastKey, false);
            return null;
        }

        if (!context.Properties.GetValue(FastKey, false))
        {
            return null;
        }

        // Retry n after a fast first one: BaseDelay/2 x 2^(n-1), capped, with jitter.
        var backoff = TimeSpan.FromTicks((long)Math.Min(options.MaxDelay.Ticks, options.BaseDelay.Ticks / 2.0 * Math.Pow(2, attemptNumber - 1)));
        return Jitter(backoff, 0.2, options);
    }

    private static bool IsServerError(HttpStatusCode status) => status is
        HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary><paramref name="delay"/> times a random factor in [1 - spread, 1 + spread) when <c>UseJitter</c> is on.</summary>
    private static TimeSpan Jitter(TimeSpan delay, double spread, ResilienceOptions options) =>
        options.UseJitter ? delay * (1 - spread + (2 * spread * Random.Shared.NextDouble())) : delay;
}
