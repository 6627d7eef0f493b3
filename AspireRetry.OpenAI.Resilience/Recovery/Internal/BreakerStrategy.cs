using Microsoft.Extensions.Http.Resilience;
using Polly.CircuitBreaker;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>The circuit breaker's options: it only detects that the upstream is down; the recovery gate does the rest.</summary>
internal static class BreakerStrategy
{
    /// <summary>The shortest break Polly's circuit breaker accepts.</summary>
    private static readonly TimeSpan PollyMinimumBreak = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The breaker tells <paramref name="recovery"/> when the failure ratio says the upstream is down; the recovery
    /// gate holds the calls, times the checks (short first, growing to <c>BreakDuration</c>) and releases them.
    /// </summary>
    public static HttpCircuitBreakerStrategyOptions Options(ResilienceOptions options, CircuitBreakerStateProvider breaker, RecoveryGate recovery) => new()
    {
        StateProvider = breaker,
        ManualControl = recovery.Breaker,
        FailureRatio = options.CircuitBreaker.FailureRatio,
        MinimumThroughput = options.CircuitBreaker.MinimumThroughput,
        SamplingDuration = options.CircuitBreaker.SamplingDuration,

        // The recovery gate times the checks and lets nothing else through meanwhile: the breaker's own break need
        // only be over by the first check. BreakDuration bounds a check that hangs; Polly wants at least 500 ms.
        BreakDuration = options.CircuitBreaker.BreakDuration > PollyMinimumBreak ? options.CircuitBreaker.BreakDuration : PollyMinimumBreak,
        BreakDurationGenerator = _ => ValueTask.FromResult(RecoveryGateStrategy.BreakerPause),

        // "Down" is 5xx, timeouts and broken connections. A 429 means the upstream is up and busy: the
        // retry strategy waits it out, and opening the breaker for it would turn a pause into an outage.
        ShouldHandle = args => ValueTask.FromResult(RecoveryGateStrategy.CountsAsDown(args.Outcome)),
        OnOpened = _ =>
        {
            recovery.BreakerOpened();
            SpanEvents.CircuitOpened();
            return ValueTask.CompletedTask;
        },
        OnClosed = _ =>
        {
            SpanEvents.CircuitClosed();
            return ValueTask.CompletedTask;
        },
        OnHalfOpened = _ =>
        {
            SpanEvents.CircuitHalfOpened();
            return ValueTask.CompletedTask;
        },
    };
}
