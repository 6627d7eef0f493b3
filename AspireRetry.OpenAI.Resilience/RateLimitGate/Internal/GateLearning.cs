using System.Net;
using Polly;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The gate strategy's "after": feeds a response's rate-limit headers and, for a 429 <c>rate_limit_exceeded</c>, its
/// server wait to the shared state (first) and this replica's gate, and reports a closing.
/// </summary>
internal sealed class GateLearning(ResilienceStrategyTelemetry polly, RateLimitGate gate, TimeProvider time, SharedStateLink shared, SharedStateKey key)
{
    /// <summary>True when the response taught the gate something (published limits or a server wait).</summary>
    /// <param name="response">The attempt's response.</param>
    /// <param name="age">How long ago the attempt was sent.</param>
    /// <param name="context">The call's resilience context.</param>
    /// <param name="start">The start this replica's gate gave the attempt.</param>
    /// <param name="token">The shared gate's start of the attempt, when it reserved one.</param>
    /// <param name="tokensUnspent">The tokens the attempt took from the shared bucket and did not spend (its answer was a refusal or a failure).</param>
    /// <param name="attemptTokens">The tokens the attempt held at the gate (its estimate and margin; 0 when not counted).</param>
    public async ValueTask<bool> LearnAsync(HttpResponseMessage response, TimeSpan age, ResilienceContext context, TimeSpan? start, string? token, long tokensUnspent = 0, long attemptTokens = 0)
    {
        var headers = gate.Complete(RateLimitHeaders.Read(response), age, start);
        var serverWait = await RateLimitWaitAsync(response, context).ConfigureAwait(false) is { } asked && !ForTokens(headers, attemptTokens) ? asked : (TimeSpan?)null;

        // The shared state first: this replica's gate wakes the calls waiting for its probe, and they ask the shared gate,
        // which must know the limits by then (else they decide alone, on the replica's own gate).
        TimeSpan? sharedClosedFor = null;
        var fromShared = false;
        if (shared.Configured)
        {
            // The shared token bucket paces each attempt on its own tokens: tokens at their reserve close nothing.
            var closeFor = serverWait is { } w ? w + OpenAIResilience.ServerDelayMargin : (TimeSpan?)null;
            var observation = new SharedRateLimitObservation(
                headers.Requests?.Limit, headers.Requests?.Remaining, headers.Requests?.RatePerMs,
                headers.Requests is { } requests ? gate.ReserveOf(requests.Limit) : 0, closeFor, age, token)
            {
                TokenLimit = headers.Tokens?.Limit,
                TokenRemaining = headers.Tokens?.Remaining,
                TokenRatePerMs = headers.Tokens?.RatePerMs,
                TokensUnspent = tokensUnspent,
            };
            (fromShared, sharedClosedFor) = await shared.TryAsync((store, ct) => store.ObserveAsync(key, observation, ct), CancellationToken.None)
                .ConfigureAwait(false);
        }

        var closedFor = gate.Observe(headers, serverWait, age, start);
        if (fromShared)
        {
            // One replica reports a closing the others then only wait for.
            closedFor = sharedClosedFor;
        }

        if (closedFor is { } closed)
        {
            SpanEvents.GateClosed(gate, closed, "429 rate_limit_exceeded", fromShared);
            polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateClosed), context, closed);
        }

        return headers.Requests is not null || serverWait is not null;
    }

    /// <summary>
    /// A 429 whose token count is below the tokens the attempt held, while requests remain: the request's tokens did not
    /// fit (a 429 the counts do not explain, or one for an attempt whose tokens were not counted, is not one). Its server wait
    /// is the time until they would, not until the upstream takes anything again: the count re-syncs the token mirror,
    /// which paces every call on its own tokens, so a call that fits now still goes and this one's retry waits for its
    /// own. Closing the gate would hold every call for this one's wait and count the bucket empty until then, a whole
    /// request's tokens below what the upstream has (in the bench's token scenario one such 429 cost two points of the
    /// tokens delivered). A 429 with the requests spent, or without a token count, still closes it.
    /// </summary>
    private static bool ForTokens(RateLimitHeaders headers, long attemptTokens) =>
        headers.Tokens is { RatePerMs: not null } tokens && tokens.Remaining < attemptTokens && headers.Requests is not { Remaining: <= 0 };

    /// <summary>The server wait of a 429 that is a rate limit; exhausted quota is not one (waiting will not refill it), so it closes nothing.</summary>
    private async ValueTask<TimeSpan?> RateLimitWaitAsync(HttpResponseMessage response, ResilienceContext context)
    {
        if (response.StatusCode != HttpStatusCode.TooManyRequests || UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is not { } wait)
        {
            return null;
        }

        try
        {
            return await UpstreamOutcome.ErrorCodeAsync(response, context.CancellationToken).ConfigureAwait(false) != UpstreamOutcome.InsufficientQuota
                ? wait
                : null;
        }
        catch (OperationCanceledException)
        {
            // The caller is gone; the retry strategy will not use this response either.
            return null;
        }
    }
}
