using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The retry strategy's options: exponential backoff with jitter from <c>BaseDelay</c>, replaced by the server's wait
/// when it names one (<see cref="RetryDelays"/>), retrying only what <see cref="RetryPredicate"/> says is worth it.
/// </summary>
internal static class RetryStrategy
{
    public static HttpRetryStrategyOptions Options(
        ResilienceOptions options, TimeProvider time, Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = null) => new()
    {
        MaxRetryAttempts = options.MaxRetryAttempts,
        BackoffType = DelayBackoffType.Exponential,
        Delay = options.BaseDelay,
        MaxDelay = options.MaxDelay,
        UseJitter = options.UseJitter,

        // The built-in Retry-After handling is replaced by DelayGenerator below, which also reads retry-after-ms.
        ShouldRetryAfterHeader = false,
        ShouldHandle = args => RetryPredicate.ShouldRetryAsync(args.Outcome, args.Context, options, time, trySpendRetry, args.AttemptNumber),
        DelayGenerator = args => ValueTask.FromResult(RetryDelays.Next(args.Outcome, args.Context, args.AttemptNumber, options, time)),
        OnRetry = async args =>
        {
            // Only a 429's code changes the reason; ShouldRetryAsync has buffered its body already.
            var code = args.Outcome.Result is { StatusCode: HttpStatusCode.TooManyRequests } limited
                ? await UpstreamOutcome.ErrorCodeAsync(limited, args.Context.CancellationToken).ConfigureAwait(false)
                : null;
            var reason = UpstreamOutcome.Describe(args.Outcome, code);
            AttemptHandler.RetryScheduled(args.Context, reason, args.RetryDelay);
            CallProgress.Current?.RetryScheduled(reason, args.RetryDelay);
            SpanEvents.Retry(args.AttemptNumber + 1, reason, args.RetryDelay);
        },
    };
}
