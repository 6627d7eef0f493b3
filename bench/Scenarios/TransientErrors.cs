using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>30% of requests fail at once with 500, 502 or 503 (no Retry-After); the rest answer normally.</summary>
public sealed class TransientErrors : Scenario
{
    public override string Id => "transient-5xx";

    public override string Title => "30% transient 5xx";

    public override string Setup =>
        "Each request has a 10% chance each of 500, 502 and 503 (no Retry-After), answered at once; the rest succeed. " +
        "Ideal: service time (an instant retry loses nothing here, so any backoff shows up as latency).";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        await run.Emulator.SetProfileAsync(new
        {
            name = Id,
            serverError500 = 0.1,
            badGateway502 = 0.1,
            serviceUnavailable503 = 0.1,
            retryAfterMs = 0,
        }, cancellationToken);

        // 240 calls: with 48, the p99 was the slowest call or nearly, so one call whose 4 attempts all failed
        // (0.8% of calls, so in a third of the runs) decided it, and the row flipped from run to run.
        var records = await RunCallsAsync(run, run.Quick ? 12 : 240, concurrency: 8, i => $"{Id}-{i}", cancellationToken);
        foreach (var call in records)
        {
            call.IdealMs = run.Calibration.ServiceMs;
        }

        return records;
    }
}
