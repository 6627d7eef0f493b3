using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Section <c>OpenAI:Resilience</c>: the one retry layer. The defaults are sized for LLM calls, which the
/// standard resilience handler's defaults (10 s attempt, 30 s total) are not.
/// </summary>
public sealed class ResilienceOptions : IValidatableObject
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "OpenAI:Resilience";

    // TimeSpan bounds for [Range], as strings (attribute arguments must be constants).
    internal const string Zero = "00:00:00";
    internal const string OneTick = "00:00:00.0000001";
    internal const string Forever = "10675199.02:48:05.4775807";

    /// <summary>Retries after the first attempt: 4 gives 5 attempts in all, the naive recipe's count.</summary>
    [Range(0, 20)]
    public int MaxRetryAttempts { get; set; } = 4;

    /// <summary>First backoff when the server names no wait; doubles each retry (the recipe's initial_delay).</summary>
    [Range(typeof(TimeSpan), Zero, Forever)]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap on our own backoff: past 30 s a person has given up on the reply.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Jitter spreads the retries of concurrent callers so they do not arrive together.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>
    /// The longest server-dictated wait (Retry-After) we honour by sleeping. A longer one fails the call
    /// at once and passes the wait on to the caller instead of holding a request open for it.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, Forever)]
    public TimeSpan MaxServerDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Time to response headers for one attempt. A non-streaming completion of a few thousand tokens takes
    /// over a minute, and cutting it means paying for it again; 100 s keeps one long completion one attempt.
    /// </summary>
    [Range(typeof(TimeSpan), OneTick, Forever)]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Longest silence between two chunks of a stream before it counts as stalled. The pipeline's timeouts
    /// cover only the wait for response headers, so the caller that reads a stream applies this one.
    /// </summary>
    [Range(typeof(TimeSpan), OneTick, Forever)]
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Budget for a whole call, every attempt and wait included: one long attempt plus room to retry.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>The circuit breaker (section <c>CircuitBreaker</c>).</summary>
    [ValidateObjectMembers]
    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>The shared rate-limit gate, pacing and retry budget (section <c>RateLimit</c>).</summary>
    [ValidateObjectMembers]
    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>
    /// Section <c>OpenAI:Resilience:SharedState</c>: how the retry layer uses an <see cref="IUpstreamSharedState"/>
    /// (replicas sharing one rate limit, budget and breaker), when one is registered.
    /// </summary>
    [ValidateObjectMembers]
    public SharedStateOptions SharedState { get; set; } = new();

    /// <summary>The rules that relate two settings; the single-setting ranges are attributes.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        const string p = SectionName;
        if (MaxDelay < BaseDelay)
        {
            yield return new($"{p}:MaxDelay ({MaxDelay}) must be at least {p}:BaseDelay ({BaseDelay}).", [nameof(MaxDelay)]);
        }

        if (TotalTimeout <= AttemptTimeout)
        {
            yield return new($"{p}:TotalTimeout ({TotalTimeout}) must be longer than {p}:AttemptTimeout ({AttemptTimeout}), or no retry could ever start.", [nameof(TotalTimeout)]);
        }

        if (CircuitBreaker.SamplingDuration < 2 * AttemptTimeout)
        {
            yield return new($"{p}:CircuitBreaker:SamplingDuration ({CircuitBreaker.SamplingDuration}) must be at least twice {p}:AttemptTimeout ({AttemptTimeout}), or slow attempts are never counted.", [nameof(CircuitBreaker)]);
        }

        if (RateLimit.ReleaseInterval > MaxServerDelay)
        {
            yield return new($"{RateLimitOptions.SectionName}:ReleaseInterval ({RateLimit.ReleaseInterval}) must be between 0 and {p}:MaxServerDelay ({MaxServerDelay}).", [nameof(RateLimit)]);
        }
    }
}

/// <summary>Section <c>OpenAI:Resilience:CircuitBreaker</c>.</summary>
public sealed class CircuitBreakerOptions
{
    /// <summary>Share of failed attempts in the sampling window that opens the breaker: half means "down".</summary>
    [Range(0.0, 1.0, MinimumIsExclusive = true)]
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>
    /// Attempts needed in the window before the ratio counts: four messages' worth. A quarter of it (5) failing in a
    /// row, with no success between, also means down: the ratio alone needs as many failures as there were successes
    /// in the window, so a busy app would notice an outage late. Large enough that a flaky upstream does not open it
    /// by chance, small enough that a real outage opens it within four messages (docs/options.md has the measurements).
    /// </summary>
    [Range(2, int.MaxValue)]
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>Window over which failures are counted; must be at least twice <c>AttemptTimeout</c> so slow attempts are seen.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>
    /// The longest interval between two checks of a down upstream (at least 100 ms). The first check
    /// comes after a quarter of it and each failed one doubles the wait: 0.375 s, 0.75 s, then every 1.5 s. A call waits
    /// at most this long after the upstream is back, and a down upstream sees one request per 1.5 s, which is no load.
    /// (Polly's breaker, which only bounds a check that hangs, is given at least its minimum of 500 ms.)
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", ResilienceOptions.Forever)]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// How long one call may wait for a down upstream to recover before it fails with 503 and the time to the next
    /// check as Retry-After (0: fail at once). 60 s, as <c>MaxServerDelay</c>: the longest this layer holds a call
    /// for a wait it did not choose; a person watching the countdown can stop sooner.
    /// </summary>
    [Range(typeof(TimeSpan), ResilienceOptions.Zero, ResilienceOptions.Forever)]
    public TimeSpan MaxRecoveryWait { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>Section <c>OpenAI:Resilience:SharedState</c>: the deadline of each shared-state call, and when to ask again after one failed.</summary>
public sealed class SharedStateOptions
{
    /// <summary>
    /// How long one shared-state call may take before the replica decides on its own state instead. A Redis on the same
    /// network answers in well under a millisecond and an upstream attempt takes hundreds; the deadline must still cover
    /// replicas starting cold on a busy machine, or each decides alone (docs/options.md). Raise it for a Redis far away.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>After a failed call, how long the replica decides alone before asking the shared state again (then rejoining).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);
}
