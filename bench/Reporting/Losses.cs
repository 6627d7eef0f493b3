using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Scenarios;
using AspireRetry.Bench.Strategies;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.Bench.Reporting;

/// <summary>One metric of the scenario tables: how to read it off, which way is better, and when a gap counts.</summary>
public sealed record MetricKind(string Id, string Name, Func<Metrics, double> Value, bool HigherIsBetter, double RelativeTolerance, double AbsoluteTolerance)
{
    /// <summary>
    /// Latencies and requests per call count every call, failed ones included, and a strategy that gives up (or whose
    /// breaker refuses calls) ends sooner and sends less: so these are compared only with strategies that answered at
    /// least as many calls. Answering fewer is the success row's loss, not a cheaper call.
    /// </summary>
    public bool IsPerCallCost => Id is "p50" or "p95" or "p99" or "requests" or "ideal"; // "ideal" averages over the calls that succeeded

    /// <summary>
    /// A success gap smaller than twice its standard error is chance: with 5 attempts against 30% failures, 0.24% of
    /// calls fail whatever the strategy, and which strategy draws them changes from run to run.
    /// </summary>
    public static bool SuccessGapIsNoise(Metrics a, Metrics b)
    {
        var error = Math.Sqrt((a.SuccessRate * (1 - a.SuccessRate) / Math.Max(1, a.Calls)) + (b.SuccessRate * (1 - b.SuccessRate) / Math.Max(1, b.Calls)));
        return Math.Abs(a.SuccessRate - b.SuccessRate) <= 2 * error;
    }

    public static MetricKind Success { get; } = new("success", "success rate", m => m.SuccessRate, HigherIsBetter: true, 0, 0.001);

    /// <summary>Tokens delivered as answered work over what the buckets allowed (scenarios that keep a token account): the most wins, by any margin.</summary>
    public static MetricKind Delivered { get; } = new("delivered", "tokens delivered (of what the buckets allowed)", m => m.DeliveredShare, true, 0, 0);

    /// <summary>The share of upstream requests answered 429 (scenarios that keep a token account).</summary>
    public static MetricKind RateLimited { get; } = new("rate-limited", "share of upstream requests answered 429", m => m.RateLimitedShare, false, 0, 0.001);

    /// <summary>The goals of a token-bucket scenario: at least this share of the buckets delivered, at most this share of requests refused.</summary>
    public const double DeliveredGoal = 0.90;

    /// <inheritdoc cref="DeliveredGoal"/>
    public const double RateLimitedGoal = 0.02;

    public static IReadOnlyList<MetricKind> All { get; } =
    [
        Success,
        // Latencies of a few dozen calls on a shared 2-core machine move by several percent from run to run.
        new("p50", "p50 latency", m => m.P50Ms, false, 0.10, 1),
        new("p95", "p95 latency", m => m.P95Ms, false, 0.10, 1),
        new("p99", "p99 latency", m => m.P99Ms, false, 0.10, 1),
        new("requests", "upstream requests per call", m => m.RequestsPerCall, false, 0.02, 0.001),
        new("early", "requests before the server's wait had passed", m => m.EarlyRequests, false, 0, 0.5),
        new("ideal", "latency over ideal", m => m.OverIdeal, false, 0.10, 0.001),
        new("down", "requests to the upstream while it was down", m => m.RequestsWhileDown, false, 0, 0.5),
        Delivered,
        RateLimited,
    ];

    /// <summary>Whether the metric is judged in <paramref name="scenario"/>: the outage's count only with an outage, the token metrics only with a token account.</summary>
    public bool AppliesTo(ScenarioResult scenario) => Id switch
    {
        "down" => scenario.Scenario.HasOutage,
        "delivered" or "rate-limited" => scenario.HasTokenAccount,
        _ => true,
    };

    public bool Beats(double a, double b) =>
        !double.IsNaN(a) && (double.IsNaN(b) || (HigherIsBetter ? a - b : b - a) > Math.Max(AbsoluteTolerance, RelativeTolerance * Math.Abs(b)));
}

/// <summary>
/// A metric of a scenario where another strategy did clearly better than AspireRetry (<see cref="Best"/>), or where
/// AspireRetry missed the scenario's goal for it (<see cref="Goal"/>, no <see cref="Best"/>).
/// </summary>
public sealed record Loss(ScenarioResult Scenario, MetricKind Metric, double Ours, StrategyResult? Best, string Why, string? Goal = null);

/// <summary>Finds where AspireRetry loses, and says why in the words of the policy's design.</summary>
public static class Losses
{
    public static IReadOnlyList<Loss> Find(IReadOnlyList<ScenarioResult> scenarios, TimeScale scale)
    {
        var losses = new List<Loss>();
        foreach (var scenario in scenarios)
        {
            var ours = scenario.For(StrategyKind.AspireRetryId);
            if (scenario.HasTokenAccount)
            {
                var m = ours.Metrics;
                if (!(m.DeliveredShare >= MetricKind.DeliveredGoal))
                {
                    losses.Add(new Loss(scenario, MetricKind.Delivered, m.DeliveredShare, null,
                        Why(scenario.Scenario.Id, MetricKind.Delivered.Id, false, scale), $"at least {MetricKind.DeliveredGoal:0%}"));
                }

                if (m.RateLimitedShare > MetricKind.RateLimitedGoal)
                {
                    losses.Add(new Loss(scenario, MetricKind.RateLimited, m.RateLimitedShare, null,
                        Why(scenario.Scenario.Id, MetricKind.RateLimited.Id, false, scale), $"at most {MetricKind.RateLimitedGoal:0%}"));
                }
            }

            foreach (var metric in MetricKind.All.Where(m => m.AppliesTo(scenario)))
            {
                var ourValue = metric.Value(ours.Metrics);
                var best = scenario.Results
                    .Where(r => r != ours && metric.Beats(metric.Value(r.Metrics), ourValue))
                    .Where(r => !metric.IsPerCallCost || !MetricKind.Success.Beats(ours.Metrics.SuccessRate, r.Metrics.SuccessRate))
                    .Where(r => metric != MetricKind.Success || !MetricKind.SuccessGapIsNoise(ours.Metrics, r.Metrics))
                    .OrderBy(r => metric.HigherIsBetter ? -metric.Value(r.Metrics) : metric.Value(r.Metrics))
                    .FirstOrDefault();
                if (best is not null)
                {
                    losses.Add(new Loss(scenario, metric, ourValue, best, Why(scenario.Scenario.Id, metric.Id, BreakerOpened(ours), scale)));
                }
            }
        }

        return losses;
    }

    /// <summary>Some of the calls were refused by ChatApi's open circuit breaker (ChatFailure "circuit_open").</summary>
    private static bool BreakerOpened(StrategyResult ours) =>
        ours.Calls.Any(c => c.Failure?.Contains("circuit_open", StringComparison.Ordinal) == true);

    private static string Why(string scenario, string metric, bool breakerOpened, TimeScale scale) => (scenario, metric, breakerOpened) switch
    {
        ("transient-5xx", _, true) =>
            $"ChatApi's circuit breaker opened, and then refused calls for its break duration ({PolicyFacts.BreakDuration} scaled) although 70% of requests " +
            $"would have succeeded. It opens when {PolicyFacts.FailureRatio} of the attempts in its window fail once at least {PolicyFacts.MinimumThroughput} were made; with 30% failures " +
            $"the chance that the first {PolicyFacts.MinimumThroughput} attempts already hold that many failures is {PolicyFacts.EarlyTripChance(0.3)}, and the window starts over each time the breaker " +
            "closes. A larger OpenAI:Resilience:CircuitBreaker:MinimumThroughput (e.g. 20) makes such a trip on a merely flaky upstream rare.",
        ("transient-5xx", "p50", false) =>
            "Most calls here need no retry at all, so the median is the same clean call for every strategy: the gap is noise.",
        ("transient-5xx", "success", false) =>
            "Chance: with 30% failures a call fails only when all its attempts do; a few calls either way decide it at this sample size.",
        ("transient-5xx", _, false) =>
            $"AspireRetry retries a 5xx that came back fast after about as long as it took, then backs off from half its {PolicyFacts.BaseDelay} base delay, " +
            "doubling, with jitter; a call whose attempts keep failing still waits, and a lucky draw of the dice can let a peer's tail end sooner. " +
            "The later waits are deliberate: with the retry budget and the breaker they keep a failing upstream from being hammered (see the outage scenario).",
        ("outage", "success", _) =>
            "Some calls met the down upstream with less of their budget left than the next recovery check is away, and failed at once " +
            "with that wait as Retry-After (OpenAI:Resilience:CircuitBreaker:MaxRecoveryWait bounds how long a call waits for recovery).",
        ("outage", "ideal" or "p50" or "p95" or "p99", _) =>
            $"AspireRetry holds calls while the upstream is down and lets one check through at a growing interval (a quarter, half, then all of {PolicyFacts.BreakDuration}, scaled); " +
            "the calls waiting go the moment a check succeeds. So a call made during the outage ends up to one check interval after the upstream is back, " +
            "and a call made just after recovery waits for that check too. Denser checks would end those calls sooner at the price of more requests " +
            "to a down upstream, which is the row where AspireRetry sends a fraction of what strategies retrying every call on their own schedule send.",
        ("outage", _, _) =>
            "While the breaker is closed AspireRetry retries like any exponential backoff; the difference comes from when the breaker opened.",
        ("storm", _, _) =>
            "The upstream publishes no limits, so AspireRetry's shared rate-limit gate ramps up slow-start style (2 in flight after the probe, " +
            "one more per success, spread over the last round trip) until the first 429; that 429 closes the gate for every call to that model, " +
            "and waiting calls are released one refill interval apart, learned from the 429s, so every call succeeds with the fewest requests " +
            "per call. The first calls pay the ramp-up's round trips, which the ideal (that knows the bucket) does not, and the last in line waits longest. The percentiles count every call, failed ones included: a strategy that " +
            "gives up on half its calls ends those sooner, which shortens its tail while it answers fewer people.",
        ("rate-limited", _, _) =>
            $"AspireRetry adds a fixed {PolicyFacts.MarginMs} ms margin to every server-named wait (ServerDelayMargin; a request 1 ms early costs another 429). " +
            $"At this time scale that is {OpenAIResilience.ServerDelayMargin.TotalMilliseconds / scale.UnitMs:0.00} scenario seconds, {1000 / scale.UnitMs:0} times what it weighs in real time.",
        ("slow-completions", _, _) =>
            "All strategies whose timeouts exceed the completion time make the same single request; the gap is noise on a shared machine.",
        ("quota", _, _) =>
            "Every strategy that does not retry makes the same single request; the gap is noise on a shared machine.",
        ("failover", "p95" or "p99" or "ideal", _) =>
            "AspireRetry's gate has heard nothing from the secondary when the primary goes down, so it probes it: the first call sent there goes " +
            "alone, and a call that reaches the secondary while that one's response headers are on their way waits for them " +
            "(OpenAI:Resilience:RateLimit:ProbeFirst), so that a burst does not spend limits nobody has seen. Here that holds the one or two calls " +
            "failing over during the secondary's first time to headers, once; the hedging handler sends them at once. With 40 calls the p95 is the " +
            "third slowest and the p99 the slowest, so those calls, and which strategy's first new connection to the secondary was slower, decide them.",
        ("tokens", "delivered", _) =>
            "AspireRetry answers every call: it holds each at its gate until the bucket has the call's tokens (its estimate and a margin for the estimate's " +
            "recent error, given back when the answer's usage settles it). A call that fits the bucket goes ahead of one still waiting for its tokens, " +
            "which keeps its place once it has waited as long as its own tokens take to refill. When the measured span ends, the bucket holds the tokens " +
            "gathering for a call that keeps its place (or for the calls in flight's margins), and they go uncounted. A peer that fails the long prompts " +
            "after its retries gathers none for them, at the price of the 429s and failed calls in the table.",
        ("tokens", "rate-limited", _) =>
            "AspireRetry reserves each attempt's estimated tokens and a margin before it goes; a 429 means the upstream had fewer tokens than the gate's " +
            "mirror of its bucket (an estimate that fell short by more than the margin, see the estimate ratio under the table, or a count taken while " +
            "requests were on their way), or other traffic on the key spent the bucket.",
        ("tokens", _, _) =>
            "AspireRetry holds calls at its gate until their tokens are there; a call that fits goes ahead of one still waiting, which keeps its place " +
            "once it has waited as long as its own tokens take to refill: a long call's latency is that wait, where a peer's call that fits goes at once " +
            "and one that does not is refused (and, after its retries, fails).",
        _ => "No explanation written for this case: read the per-call numbers.",
    };
}
