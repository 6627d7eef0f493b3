using AspireRetry.ChatApi.OpenAI.RateLimit;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>
/// Section <c>OpenAI:Resilience</c>: the one retry layer of the system. The defaults are sized for LLM
/// calls, which the standard resilience handler's defaults (10 s attempt, 30 s total) are not.
/// </summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "OpenAI:Resilience";

    /// <summary>Retries after the first attempt: 4 gives 5 attempts in all, the naive recipe's count.</summary>
    public int MaxRetryAttempts { get; set; } = 4;

    /// <summary>First backoff when the server names no wait; doubles each retry (the recipe's initial_delay).</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap on our own backoff: past 30 s a person has given up on the reply.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Jitter spreads the retries of concurrent callers so they do not arrive together.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>
    /// The longest server-dictated wait (Retry-After) we honour by sleeping. A longer one fails the call
    /// at once and passes the wait on to the caller instead of holding a request open for it.
    /// </summary>
    public TimeSpan MaxServerDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Time to response headers for one attempt. A non-streaming completion of a few thousand tokens takes
    /// over a minute, and cutting it means paying for it again; 100 s keeps one long completion one attempt.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Longest silence between two chunks of a stream before it counts as stalled.</summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Budget for a whole call, every attempt and wait included: one long attempt plus room to retry.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(4);

    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>The shared rate-limit gate, pacing and retry budget (section <c>RateLimit</c>).</summary>
    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>
    /// Model to try once more with when the requested model's attempts are exhausted by transient errors.
    /// Null (the default) turns the fallback off.
    /// </summary>
    public string? FallbackModel { get; set; }
}

/// <summary>Section <c>OpenAI:Resilience:CircuitBreaker</c>.</summary>
public sealed class CircuitBreakerOptions
{
    /// <summary>Share of failed attempts in the sampling window that opens the breaker: half means "down".</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>
    /// Attempts needed in the window before the ratio counts: four messages' worth. With 8, an upstream
    /// failing 30% of the time opened it by chance about one time in five (the benchmark measured it);
    /// with 20, under one in twenty, while a real outage still opens it within four messages.
    /// </summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>Window over which failures are counted; must be at least twice <c>AttemptTimeout</c> so slow attempts are seen.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>How long calls fail fast before one probe is let through.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>Rejects option combinations that cannot work, naming the keys, at start-up.</summary>
internal sealed class ResilienceOptionsValidator : IValidateOptions<OpenAIOptions>
{
    public ValidateOptionsResult Validate(string? name, OpenAIOptions options)
    {
        var r = options.Resilience;
        var cb = r.CircuitBreaker;
        const string p = ResilienceOptions.SectionName;
        var errors = new List<string>();

        void Require(bool ok, string message)
        {
            if (!ok) errors.Add(message);
        }

        Require(r.MaxRetryAttempts is >= 0 and <= 20, $"{p}:MaxRetryAttempts must be between 0 and 20 (was {r.MaxRetryAttempts}).");
        Require(r.BaseDelay >= TimeSpan.Zero, $"{p}:BaseDelay must not be negative (was {r.BaseDelay}).");
        Require(r.MaxDelay >= r.BaseDelay, $"{p}:MaxDelay ({r.MaxDelay}) must be at least {p}:BaseDelay ({r.BaseDelay}).");
        Require(r.MaxServerDelay >= TimeSpan.Zero, $"{p}:MaxServerDelay must not be negative (was {r.MaxServerDelay}).");
        Require(r.AttemptTimeout > TimeSpan.Zero, $"{p}:AttemptTimeout must be positive (was {r.AttemptTimeout}).");
        Require(r.StreamIdleTimeout > TimeSpan.Zero, $"{p}:StreamIdleTimeout must be positive (was {r.StreamIdleTimeout}).");
        Require(r.TotalTimeout > r.AttemptTimeout, $"{p}:TotalTimeout ({r.TotalTimeout}) must be longer than {p}:AttemptTimeout ({r.AttemptTimeout}), or no retry could ever start.");
        Require(cb.FailureRatio is > 0 and <= 1, $"{p}:CircuitBreaker:FailureRatio must be in (0, 1] (was {cb.FailureRatio}).");
        Require(cb.MinimumThroughput >= 2, $"{p}:CircuitBreaker:MinimumThroughput must be at least 2 (was {cb.MinimumThroughput}).");
        Require(cb.SamplingDuration >= 2 * r.AttemptTimeout, $"{p}:CircuitBreaker:SamplingDuration ({cb.SamplingDuration}) must be at least twice {p}:AttemptTimeout ({r.AttemptTimeout}), or slow attempts are never counted.");
        Require(cb.BreakDuration >= TimeSpan.FromMilliseconds(500), $"{p}:CircuitBreaker:BreakDuration must be at least 500 ms (was {cb.BreakDuration}).");
        Require(r.FallbackModel is null || !string.IsNullOrWhiteSpace(r.FallbackModel),
            $"{p}:FallbackModel must not be empty when set.");
        var rl = r.RateLimit;
        const string q = RateLimitOptions.SectionName;
        Require(rl.Reserve is >= 0 and < 1, $"{q}:Reserve must be in [0, 1): a share of the published limit (was {rl.Reserve}).");
        Require(rl.ReleaseInterval >= TimeSpan.Zero && rl.ReleaseInterval <= r.MaxServerDelay,
            $"{q}:ReleaseInterval ({rl.ReleaseInterval}) must be between 0 and {p}:MaxServerDelay ({r.MaxServerDelay}).");
        Require(rl.RetryBudget.Ratio is >= 0 and <= 10, $"{q}:RetryBudget:Ratio must be between 0 and 10 retries per call (was {rl.RetryBudget.Ratio}).");
        Require(rl.RetryBudget.MinRetriesPerSecond >= 0, $"{q}:RetryBudget:MinRetriesPerSecond must not be negative (was {rl.RetryBudget.MinRetriesPerSecond}).");
        Require(rl.RetryBudget.Window >= TimeSpan.FromMilliseconds(100) && rl.RetryBudget.Window <= TimeSpan.FromHours(1),
            $"{q}:RetryBudget:Window must be between 100 ms and 1 hour (was {rl.RetryBudget.Window}).");
        Require(options.Models.All(m => !string.IsNullOrWhiteSpace(m)), $"{OpenAIOptions.SectionName}:Models must not contain empty names.");

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
