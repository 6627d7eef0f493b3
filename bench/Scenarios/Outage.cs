using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// Calls arrive steadily for 30 s; from 4 s to 14 s every request gets a 503 with no Retry-After (the
/// upstream is down), then it recovers. Counts the requests that reached the upstream while it was down.
/// Twenty calls start during the outage. With 20 s of calls they were exactly half, so the median was whichever
/// call came first after recovery and flipped from run to run; 30 s puts the median among ordinary calls and
/// leaves the outage's calls to the tail percentiles and the latency over ideal.
/// </summary>
public sealed class Outage : Scenario
{
    private const double LengthSeconds = 30;
    private const double DownAtSeconds = 4;
    private const double UpAtSeconds = 14;
    private const double ArrivalEverySeconds = 0.5;

    public override string Id => "outage";

    public override string Title => "10 s outage, then recovery";

    public override bool HasOutage => true;

    public override string Setup =>
        $"A call starts every {ArrivalEverySeconds} s (from {ArrivalEverySeconds / 2} s) for {LengthSeconds:0} s; from {DownAtSeconds:0} s to {UpAtSeconds:0} s every request gets a 503 " +
        "without Retry-After. Ideal: a call started during the outage succeeds the moment it ends; the others take service time.";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        var scale = run.Scale;
        double downMs = double.NaN, upMs = double.NaN;
        var switches = Task.Run(async () =>
        {
            // The outage spans from the moment the switch to "down" is sent to the moment the switch back is answered:
            // a call that started while a switch was on its way is judged as if the outage had met it.
            await DelayUntilAsync(run, scale.Ms(DownAtSeconds), cancellationToken);
            downMs = run.Clock.NowMs;
            await run.Emulator.SetProfileAsync(new { name = "down", serviceUnavailable503 = 1.0, retryAfterMs = 0 }, cancellationToken);
            await DelayUntilAsync(run, scale.Ms(UpAtSeconds), cancellationToken);
            await run.Emulator.CalmAsync(cancellationToken);
            upMs = run.Clock.NowMs;
        }, cancellationToken);

        var count = (int)(LengthSeconds / ArrivalEverySeconds);
        var calls = Enumerable.Range(0, count).Select(async i =>
        {
            // Half a period off the switches: a call that started with the switch would race it, and land on
            // either side of it by chance (measured: a call counted as before the outage met it, 30x its ideal).
            await DelayUntilAsync(run, scale.Ms((i + 0.5) * ArrivalEverySeconds), cancellationToken);
            return await run.CallAsync($"{Id}-{i}", cancellationToken);
        }).ToList();

        await switches;
        var records = await Task.WhenAll(calls);
        foreach (var call in records)
        {
            var waitForRecovery = call.StartMs >= downMs && call.StartMs < upMs ? upMs - call.StartMs : 0;
            call.IdealMs = waitForRecovery + run.Calibration.ServiceMs;
        }

        return records;
    }
}
