using AspireRetry.Bench.Measuring;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// Each caller has just used its one request of the window, so its call meets a real 429 whose
/// <c>retry-after-ms</c> is the exact time until it would be admitted; a request before then gets
/// another 429. The ideal client waits exactly that long, once.
/// </summary>
public sealed class RateLimited : Scenario
{
    private const double WindowSeconds = 3;

    public override string Id => "rate-limited";

    public override string Title => "Rate limited (retry-after-ms)";

    public override string Setup =>
        $"Each caller may send 1 request per {WindowSeconds:0} s (token bucket) and has just sent it: its call gets a 429 with `retry-after-ms` " +
        "(no whole-second `retry-after`, see the notes), and every request before that wait is over gets another 429. " +
        "Ideal: the server's wait plus service time.";

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        var calls = run.Quick ? 4 : 12;
        await run.Emulator.SetProfileAsync(new
        {
            name = Id,
            rateLimiter = new { enabled = true, requestsPerWindow = 1, tokensPerWindow = 1_000_000, windowMs = run.Scale.Ms(WindowSeconds) },
        }, cancellationToken);

        var records = await Task.WhenAll(Enumerable.Range(0, calls).Select(async i =>
        {
            // Each caller has its own bucket: its own client. Its request of the window is spent once that client is built,
            // so every strategy's call meets the same server wait (a whole window), whatever its client took to build.
            var caller = $"{Id}-{i}";
            return await run.CallAsOwnClientAsync(caller, ct => run.Emulator.SpendAsync(caller, ct), cancellationToken);
        }));

        foreach (var call in records)
        {
            // From the call's start to the first server-named wait running out, then the answer.
            var firstWait = call.Attempts.FirstOrDefault(a => a.RetryAfterMs is not null);
            call.IdealMs = (firstWait is null ? 0 : firstWait.ReceivedMs - call.StartMs + firstWait.RetryAfterMs!.Value) + run.Calibration.ServiceMs;
        }

        return records;
    }
}
