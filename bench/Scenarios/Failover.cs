using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// Two upstreams. Calls arrive steadily for 20 s; from 4 s to 14 s every request to the primary gets a 503 with no
/// Retry-After, while the secondary stays healthy. Each strategy is set up for two upstreams as its users would set it
/// up (see <see cref="Setup"/>). Ideal: every call takes service time, the secondary answering during the outage.
/// </summary>
public sealed class Failover : Scenario
{
    private const double LengthSeconds = 20;
    private const double DownAtSeconds = 4;
    private const double UpAtSeconds = 14;
    private const double ArrivalEverySeconds = 0.5;

    public override string Id => "failover";

    public override string Title => "Primary down 10 s, secondary healthy";

    public override int Upstreams => 2;

    public override bool HasOutage => true;

    public override string Setup =>
        $"Two upstreams. A call starts every {ArrivalEverySeconds} s for {LengthSeconds:0} s; from {DownAtSeconds:0} s to {UpAtSeconds:0} s every request to the primary " +
        "gets a 503 without Retry-After, while the secondary stays healthy. How each is set up for two upstreams, as its users would: " +
        "the naive loop sends each retry to the next upstream in turn (after its 1, 2, 4, 8 s sleeps); the SDK default gets a client per upstream " +
        "and a try/catch that moves to the secondary when the primary's client has spent its own retries; the standard handler is replaced by " +
        ".NET's answer for several endpoints, AddStandardHedgingHandler() with the upstreams as ordered routing groups and a pipeline per authority " +
        "(a failed attempt is hedged to the secondary at once); AspireRetry gets the connection strings openai and openai-2. " +
        "Ideal: every call takes service time, answered by the secondary during the outage.";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        var scale = run.Scale;
        var primary = run.Emulators[0];
        var switches = Task.Run(async () =>
        {
            await DelayUntilAsync(run, scale.Ms(DownAtSeconds), cancellationToken);
            await primary.SetProfileAsync(new { name = "down", serviceUnavailable503 = 1.0, retryAfterMs = 0 }, cancellationToken);
            await DelayUntilAsync(run, scale.Ms(UpAtSeconds), cancellationToken);
            await primary.CalmAsync(cancellationToken);
        }, cancellationToken);

        var count = (int)(LengthSeconds / ArrivalEverySeconds);
        var calls = Enumerable.Range(0, count).Select(async i =>
        {
            await DelayUntilAsync(run, scale.Ms(i * ArrivalEverySeconds), cancellationToken);
            return await run.CallAsync($"{Id}-{i}", cancellationToken);
        }).ToList();

        await switches;
        var records = await Task.WhenAll(calls);
        foreach (var call in records)
        {
            call.IdealMs = run.Calibration.ServiceMs;
        }

        return records;
    }
}
