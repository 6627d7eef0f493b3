using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// Many callers at once against one shared token bucket (one organisation's limit): the upstream admits
/// a few at once and then a steady rate, answering the rest with 429s that name the exact wait. It publishes
/// no <c>x-ratelimit-*</c> headers: the clients learn the limit only from the 429s.
/// </summary>
public sealed class RetryStorm : Scenario
{
    private const int Capacity = 4;
    private const double WindowSeconds = 1;

    public override string Id => "storm";

    public override string Title => "Retry storm (shared rate limit, many callers)";

    public override string Setup =>
        $"{Calls(false)} calls ({Calls(true)} with `--quick`) start together and share one bucket of {Capacity} requests that refills at {Capacity} requests/s; refused requests get 429 " +
        "with `retry-after-ms` = the time until the next request would be admitted. No `x-ratelimit-*` headers are sent, so the limit is learned " +
        "only from the 429s (of the strategies, only AspireRetry reads those headers, so this changes nothing for the others). Ideal: the k-th successful call finishes when the bucket " +
        "admits its k-th request, plus service time.";

    /// <summary>The warm-up call meets the same upstream, without a limit yet and publishing none.</summary>
    public override object WarmUpProfile(TimeScale scale) => new { name = Id + " warm-up", rateLimiter = new { enabled = false, publishHeaders = false } };

    /// <summary>No limits published, so no tokens counted: one round warms the rest.</summary>
    public override int WarmUpRounds => 1;

    public static int Calls(bool quick) => quick ? 12 : 32;

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        var windowMs = run.Scale.Ms(WindowSeconds);
        await run.Emulator.SetProfileAsync(new
        {
            name = Id,
            rateLimiter = new { enabled = true, requestsPerWindow = Capacity, tokensPerWindow = 1_000_000, windowMs, publishHeaders = false },
        }, cancellationToken);

        var count = Calls(run.Quick);
        // One caller key for all: the bucket is per caller and model, and here everyone shares it.
        var records = await RunCallsAsync(run, count, concurrency: count, _ => Id, cancellationToken);

        var rank = 0;
        foreach (var call in records.Where(c => c.Succeeded).OrderBy(c => c.EndMs))
        {
            var admittedAfter = Math.Max(0, rank + 1 - Capacity) * (double)windowMs / Capacity;
            call.IdealMs = admittedAfter + run.Calibration.ServiceMs;
            rank++;
        }

        return records;
    }
}
