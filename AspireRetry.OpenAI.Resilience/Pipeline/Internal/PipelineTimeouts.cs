using Microsoft.Extensions.Http.Resilience;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>The timeouts of the pipeline: the call's budget, which starts its <see cref="CallClock"/>, and each attempt's.</summary>
internal static class PipelineTimeouts
{
    /// <summary>The total timeout: the one place a call's clock starts, where its budget starts being timed.</summary>
    public static HttpTimeoutStrategyOptions Total(ResilienceOptions options, TimeProvider time) => new()
    {
        Name = Strategies.TotalTimeout,
        TimeoutGenerator = args =>
        {
            CallClock.Start(args.Context, time);
            return ValueTask.FromResult(options.TotalTimeout);
        },
    };

    /// <summary>The attempt timeout; it also starts the <see cref="AttemptClock"/> that tells the retry how fast a failure came back.</summary>
    public static HttpTimeoutStrategyOptions Attempt(ResilienceOptions options, TimeProvider time) => new()
    {
        Name = Strategies.AttemptTimeout,
        TimeoutGenerator = args =>
        {
            AttemptClock.Start(args.Context, time);
            return ValueTask.FromResult(options.AttemptTimeout);
        },
    };
}
