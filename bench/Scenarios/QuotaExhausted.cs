using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>Every request gets 429 <c>insufficient_quota</c>: same status as a rate limit, but waiting never helps.</summary>
public sealed class QuotaExhausted : Scenario
{
    public override string Id => "quota";

    public override string Title => "Quota exhausted";

    public override bool SuccessExpected => false;

    public override string Setup =>
        "Every request gets 429 `insufficient_quota` (no Retry-After). Success is impossible; " +
        "ideal: one request, then fail at once with the reason (latency over ideal = time to that first answer).";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        await run.Emulator.SetProfileAsync(new { name = Id, insufficientQuota = 1.0 }, cancellationToken);

        var records = await RunCallsAsync(run, run.Quick ? 3 : 8, concurrency: 8, i => $"{Id}-{i}", cancellationToken);
        foreach (var call in records)
        {
            call.IdealMs = call.Attempts.Count > 0 ? call.Attempts[0].ReceivedMs - call.StartMs : call.LatencyMs;
        }

        return records;
    }
}
