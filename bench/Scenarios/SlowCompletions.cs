using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>Every completion takes 12 s, as a long answer from a large model does: any timeout under that re-sends and re-bills it.</summary>
public sealed class SlowCompletions : Scenario
{
    private const double CompletionSeconds = 12;

    public override string Id => "slow-completions";

    public override string Title => "Slow completions (12 s)";

    public override string Setup =>
        $"Every completion takes {CompletionSeconds:0} s before it answers. Ideal: one request per call, {CompletionSeconds:0} s.";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        await run.Emulator.SetProfileAsync(new { name = Id, firstTokenDelayMs = run.Scale.Ms(CompletionSeconds) }, cancellationToken);

        var count = run.Quick ? 3 : 6;
        var records = await RunCallsAsync(run, count, concurrency: count, i => $"{Id}-{i}", cancellationToken);
        foreach (var call in records)
        {
            call.IdealMs = run.Scale.Ms(CompletionSeconds) + run.Calibration.OverheadMs;
        }

        return records;
    }
}
