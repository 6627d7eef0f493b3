using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Section <c>OpenAI:Resilience:RateLimit</c>: what concurrent calls to one upstream and model share,
/// so that a hundred users meeting one rate limit do not turn it into a hundred retry schedules.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = ResilienceOptions.SectionName + ":RateLimit";

    /// <summary>
    /// Master switch for the shared gate, pacing and the retry budget. Off gives the per-call policy
    /// alone.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Share of the upstream's published request limit (<c>x-ratelimit-limit-requests</c>) kept unspent:
    /// once the estimated remaining budget falls to it, calls are spread at the refill rate instead of
    /// spending the rest. The reserve absorbs requests in flight, timer jitter and other clients of the
    /// same key; 10% of OpenAI's 500 RPM tier is 50 requests, a few seconds of headroom.
    /// Tokens keep no share of the bucket back: each attempt holds its estimate plus a margin for the estimate's error
    /// (the largest shortfall of the model's last 16 answers), given back when its usage settles; until 16 answers show
    /// that error, the margin is this share of the estimate.
    /// </summary>
    [Range(0.0, 1.0, MaximumIsExclusive = true)]
    public double Reserve { get; set; } = 0.1;

    /// <summary>
    /// Until a response has published the upstream's limits, only one attempt per upstream and model goes
    /// out and the rest wait for its headers: a burst at start-up must not spend a limit it cannot see.
    /// Costs at most one time-to-headers, once.
    /// </summary>
    public bool ProbeFirst { get; set; } = true;

    /// <summary>
    /// While the upstream publishes no limits and has not answered 429, at most this many attempts per upstream
    /// and model are in flight (to response headers); each success adds one, so the window doubles every round
    /// trip, as TCP's slow start, and its attempts are spread over the last round trip (as paced TCP), so a 429 stops
    /// the rest of a window before they are sent. The first 429 ends it: the gate closes for the server's wait and then spaces
    /// calls (see <see cref="ReleaseInterval"/>). 2 is TCP's classic initial window: a burst at an upstream that
    /// admits only a few at once overshoots by a few requests, not by the whole burst. 0 turns the window off.
    /// </summary>
    [Range(0, 1_000_000)]
    public int InitialWindow { get; set; } = 2;

    /// <summary>
    /// The window at which the slow start ends without a 429 and every call goes at once. 16 is reached from 2 in
    /// three round trips (2, 4, 8, 16), so a healthy upstream without headers slows a burst by at most the probe
    /// and three round trips, once; an upstream that admits fewer than 16 at once has answered 429 by then.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxWindow { get; set; } = 16;

    /// <summary>
    /// Spacing of the calls released when a closed gate opens and the upstream's refill rate is unknown
    /// (no <c>x-ratelimit-*</c> headers): one every 100 ms lets the first ones prove the limit has really
    /// reset before the rest follow. With the headers known, the spacing is the upstream's refill interval; without
    /// them, a 429 for a call released after the opening teaches that interval and replaces this one.
    /// At most <c>MaxServerDelay</c>.
    /// </summary>
    [Range(typeof(TimeSpan), ResilienceOptions.Zero, ResilienceOptions.Forever)]
    public TimeSpan ReleaseInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The retry budget (section <c>RetryBudget</c>).</summary>
    [ValidateObjectMembers]
    public RetryBudgetOptions RetryBudget { get; set; } = new();

    /// <summary>
    /// Limits of upstreams that publish none, or a share of a key an app keeps to (section <c>Limits</c>), by model
    /// (<c>Limits:gpt-4o:TokensPerMinute</c>) or by upstream and model (<c>Limits:openai-2/gpt-4o:TokensPerMinute</c>, which
    /// wins). Published <c>x-ratelimit-*</c> headers apply under them: the lower limit wins.
    /// </summary>
    public Dictionary<string, ModelRateLimits> Limits { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The configured limits of <paramref name="model"/> on <paramref name="upstream"/>, if any.</summary>
    internal ModelRateLimits? LimitsFor(string upstream, string model) =>
        Limits.GetValueOrDefault($"{upstream}/{model}") ?? Limits.GetValueOrDefault(model);
}

/// <summary>One model's limits on an upstream that publishes none (section <c>OpenAI:Resilience:RateLimit:Limits:{model}</c>).</summary>
public sealed class ModelRateLimits
{
    /// <summary>Tokens per minute (TPM): each attempt reserves its estimated prompt and completion tokens from it before it goes.</summary>
    [Range(1L, long.MaxValue)]
    public long? TokensPerMinute { get; set; }

    /// <summary>Requests per minute (RPM): attempts are paced on it as on a published request limit.</summary>
    [Range(1L, long.MaxValue)]
    public long? RequestsPerMinute { get; set; }
}

/// <summary>
/// Section <c>OpenAI:Resilience:RateLimit:RetryBudget</c>: retries may be at most a share of the
/// requests over a sliding window (Envoy's and Finagle's retry budget), so a long outage cannot
/// multiply the load on a struggling upstream by <c>MaxRetryAttempts + 1</c>.
/// </summary>
public sealed class RetryBudgetOptions
{
    /// <summary>Retries allowed per first attempt in the window: 20%, Envoy's default budget_percent.</summary>
    [Range(0.0, 10.0)]
    public double Ratio { get; set; } = 0.2;

    /// <summary>
    /// Retries always allowed per second of window, whatever the traffic: a quiet app (one person
    /// chatting) keeps its full per-call retries. 10 per second is Finagle's default.
    /// </summary>
    [Range(0.0, double.MaxValue)]
    public double MinRetriesPerSecond { get; set; } = 10;

    /// <summary>The sliding window: 10 s, long enough to smooth a burst, short enough to forget an outage soon after it ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The rule as the shared state applies it.</summary>
    internal SharedBudgetRule ToSharedRule() => new(Ratio, MinRetriesPerSecond, Window);
}
