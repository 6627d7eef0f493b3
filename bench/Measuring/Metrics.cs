namespace AspireRetry.Bench.Measuring;

/// <summary>What one strategy did in one scenario. Latencies in real milliseconds.</summary>
public sealed record Metrics(
    int Calls,
    int Succeeded,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    int Requests,
    int EarlyRequests,
    double OverIdeal,
    int RequestsWhileDown)
{
    /// <summary>A request sent this much before the earliest moment the server's wait can have run out still counts as on time (timer granularity).</summary>
    public const double EarlyToleranceMs = 1;

    public double SuccessRate => Calls == 0 ? 0 : (double)Succeeded / Calls;

    public double RequestsPerCall => Calls == 0 ? 0 : (double)Requests / Calls;

    /// <param name="successExpected">When false (exhausted quota), latency over ideal is taken over every call, as none can succeed.</param>
    /// <param name="downStatus">The status the upstream answers while it is down; null when the scenario has no outage.</param>
    public static Metrics From(IReadOnlyList<CallRecord> calls, bool successExpected, int? downStatus)
    {
        var latencies = calls.Select(c => c.LatencyMs).Order().ToArray();
        var attempts = calls.Select(c => c.Attempts).ToList();
        var judged = calls.Where(c => (c.Succeeded || !successExpected) && c.IdealMs > 0).ToList();
        return new Metrics(
            calls.Count,
            calls.Count(c => c.Succeeded),
            Percentile.Of(latencies, 0.50),
            Percentile.Of(latencies, 0.95),
            Percentile.Of(latencies, 0.99),
            attempts.Sum(a => a.Count),
            attempts.Sum(CountEarly),
            judged.Count == 0 ? double.NaN : judged.Average(c => c.LatencyMs / c.IdealMs),
            downStatus is { } down ? attempts.Sum(a => a.Count(x => x.Status == down)) : 0);
    }

    /// <summary>
    /// Attempts sent before the wait named by the latest earlier answer to the same call had certainly
    /// passed. The server starts its wait somewhere between sending the request it refuses and our
    /// receiving the refusal; counting from the send, only requests that were early for sure are counted.
    /// </summary>
    private static int CountEarly(IReadOnlyList<Attempt> attempts)
    {
        var early = 0;
        var notBefore = double.NegativeInfinity;
        foreach (var attempt in attempts.OrderBy(a => a.SentMs))
        {
            if (attempt.SentMs < notBefore - EarlyToleranceMs)
            {
                early++;
            }

            if (attempt.RetryAfterMs is { } wait)
            {
                notBefore = attempt.SentMs + wait;
            }
        }

        return early;
    }
}
