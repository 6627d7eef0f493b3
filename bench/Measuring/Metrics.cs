namespace AspireRetry.Bench.Measuring;

/// <summary>
/// A scenario's token buckets over the span it measures: tokens admitted from <see cref="FromMs"/> to <see cref="ToMs"/>
/// (on the scenario's clock) are counted, against <see cref="AllowedTokens"/>, the most the buckets could admit then.
/// </summary>
public sealed record TokenAccount(double FromMs, double ToMs, double AllowedTokens);

/// <summary>What one strategy did in one scenario. Latencies in real milliseconds.</summary>
/// <param name="RateLimited">Upstream requests answered 429.</param>
/// <param name="DeliveredTokens">
/// Where the scenario keeps a <see cref="TokenAccount"/>: the tokens of the successful answers (their <c>usage</c>) of calls
/// that succeeded, sent within its span; NaN elsewhere.
/// </param>
/// <param name="AllowedTokens">What the token buckets could admit over that span; NaN where there is none.</param>
public sealed record Metrics(
    int Calls,
    int Succeeded,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    int Requests,
    int EarlyRequests,
    double OverIdeal,
    int RequestsWhileDown,
    int RateLimited = 0,
    double DeliveredTokens = double.NaN,
    double AllowedTokens = double.NaN)
{
    /// <summary>A request sent this much before the earliest moment the server's wait can have run out still counts as on time (timer granularity).</summary>
    public const double EarlyToleranceMs = 1;

    public double SuccessRate => Calls == 0 ? 0 : (double)Succeeded / Calls;

    public double RequestsPerCall => Calls == 0 ? 0 : (double)Requests / Calls;

    /// <summary>The share of upstream requests answered 429.</summary>
    public double RateLimitedShare => Requests == 0 ? 0 : (double)RateLimited / Requests;

    /// <summary>Tokens delivered as answered work over what the buckets allowed; NaN where the scenario keeps no token account.</summary>
    public double DeliveredShare => AllowedTokens > 0 ? DeliveredTokens / AllowedTokens : double.NaN;

    /// <param name="successExpected">When false (exhausted quota), latency over ideal is taken over every call, as none can succeed.</param>
    /// <param name="downStatus">The status the upstream answers while it is down; null when the scenario has no outage.</param>
    /// <param name="tokens">The scenario's token account, when it keeps one.</param>
    public static Metrics From(IReadOnlyList<CallRecord> calls, bool successExpected, int? downStatus, TokenAccount? tokens = null)
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
            downStatus is { } down ? attempts.Sum(a => a.Count(x => x.Status == down)) : 0,
            attempts.Sum(a => a.Count(x => x.Status == 429)),
            tokens is null ? double.NaN : Delivered(calls, tokens),
            tokens?.AllowedTokens ?? double.NaN);
    }

    /// <summary>The tokens the upstream reported for the successful answers of calls that succeeded, sent within the account's span.</summary>
    private static double Delivered(IReadOnlyList<CallRecord> calls, TokenAccount account) => calls
        .Where(c => c.Succeeded)
        .SelectMany(c => c.Attempts)
        .Where(a => a.Status is >= 200 and < 300 && a.Tokens is not null && a.SentMs >= account.FromMs && a.SentMs <= account.ToMs)
        .Sum(a => (double)a.Tokens!.Value);

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
