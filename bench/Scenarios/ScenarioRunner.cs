using System.ClientModel.Primitives;
using System.Diagnostics;
using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;

namespace AspireRetry.Bench.Scenarios;

/// <param name="Estimates">The library's token estimate error over the scenario's calls (AspireRetry only; empty when it estimated nothing).</param>
public sealed record StrategyResult(StrategyKind Strategy, Metrics Metrics, IReadOnlyList<CallRecord> Calls, IReadOnlyList<EstimateRatio>? Estimates = null);

public sealed record ScenarioResult(Scenario Scenario, IReadOnlyList<StrategyResult> Results, TimeSpan Elapsed)
{
    public StrategyResult For(string strategyId) => Results.Single(r => r.Strategy.Id == strategyId);

    /// <summary>Whether the scenario counted the tokens its buckets admitted (<see cref="Metrics.DeliveredShare"/>).</summary>
    public bool HasTokenAccount => Results.Any(r => !double.IsNaN(r.Metrics.AllowedTokens));
}

/// <summary>
/// Runs a scenario through every strategy at once, each on its own fresh emulator, so the strategies share
/// the machine's noise but never an upstream (its chaos profile and buckets are per emulator), and every
/// strategy's upstream starts each scenario with the same seeded dice.
/// </summary>
public sealed class ScenarioRunner(Func<Task<EmulatorHost>> startEmulator, TimeScale scale, Calibration calibration, bool quick)
{
    /// <summary>The status the outage scenario's upstream answers with while down.</summary>
    public const int DownStatus = 503;

    public async Task<ScenarioResult> RunAsync(Scenario scenario, CancellationToken cancellationToken)
    {
        var emulators = await Task.WhenAll(StrategyKind.All.Select(async _ => await Task.WhenAll(Enumerable.Range(0, scenario.Upstreams).Select(_ => startEmulator()))));
        try
        {
            var elapsed = Stopwatch.StartNew();
            var results = await Task.WhenAll(StrategyKind.All.Select((kind, i) => RunOneAsync(scenario, kind, emulators[i], cancellationToken)));
            return new ScenarioResult(scenario, results, elapsed.Elapsed);
        }
        finally
        {
            foreach (var emulator in emulators.SelectMany(e => e))
            {
                await emulator.DisposeAsync();
            }
        }
    }

    private async Task<StrategyResult> RunOneAsync(Scenario scenario, StrategyKind kind, IReadOnlyList<EmulatorHost> emulators, CancellationToken cancellationToken)
    {
        // A fresh strategy per scenario: no breaker state or pooled connection carries over from the last one.
        var endpoints = emulators.Select(e => e.OpenAIEndpoint).ToList();
        await using var strategy = await kind.CreateAsync(endpoints, scale);

        if (scenario.WarmUpProfile(scale) is { } warmUp)
        {
            await emulators[0].SetProfileAsync(warmUp, cancellationToken);
        }

        for (var round = 0; round < scenario.WarmUpRounds; round++)
        {
            await WarmUpAsync(kind, strategy, scenario.Embeds, cancellationToken);
        }

        var estimates = (strategy as AspireRetryPolicy)?.Estimates;
        estimates?.Clear();
        var run = new ScenarioRun(emulators, strategy, scale, calibration, quick, () => kind.CreateAsync(endpoints, scale));
        var calls = await scenario.RunAsync(run, cancellationToken);
        return new StrategyResult(kind, Metrics.From(calls, scenario.SuccessExpected, scenario.HasOutage ? DownStatus : null, run.Tokens), calls, estimates?.Snapshot());
    }

    /// <summary>
    /// Unmeasured calls until one succeeds, so JIT and the first connection are not charged to the scenario.
    /// The first may fail on a busy machine: at small time scales the standard handler's scaled timeouts are
    /// a few hundred milliseconds, less than a cold first call can take. With <paramref name="embeds"/>, the same for an
    /// embeddings call.
    /// </summary>
    private static async Task WarmUpAsync(StrategyKind kind, IStrategy strategy, bool embeds, CancellationToken cancellationToken)
    {
        await WarmUpAsync(kind, ct => strategy.ChatAsync("warm up", ct), cancellationToken);
        if (embeds)
        {
            await WarmUpAsync(kind, ct => strategy.EmbedAsync(["warm up"], ct), cancellationToken);
        }
    }

    private static async Task WarmUpAsync(StrategyKind kind, Func<CancellationToken, Task<string?>> call, CancellationToken cancellationToken)
    {
        const int tries = 3;
        string? failure = null;
        for (var i = 0; i < tries; i++)
        {
            try
            {
                if ((failure = await call(cancellationToken)) is null)
                {
                    return;
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                failure = ex.GetType().Name + ": " + ex.Message;
            }
        }

        throw new InvalidOperationException($"{kind.Name} could not make a clean call in {tries} tries: {failure}");
    }

    /// <summary>Service time on this machine: the median clean call through a bare SDK client with no retry layer.</summary>
    public static async Task<Calibration> CalibrateAsync(EmulatorHost emulator, int configuredServiceMs, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        var client = OpenAISdk.Create(emulator.OpenAIEndpoint, http, new ClientRetryPolicy(maxRetries: 0), OpenAISdk.DefaultNetworkTimeout);
        for (var i = 0; i < 3; i++)
        {
            await OpenAISdk.CompleteAsync(client, ScenarioRun.Prompt, cancellationToken);
        }

        var samples = new List<double>();
        for (var i = 0; i < 9; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await OpenAISdk.CompleteAsync(client, ScenarioRun.Prompt, cancellationToken);
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        var median = samples.Order().ElementAt(samples.Count / 2);
        return new Calibration(median, Math.Max(0, median - configuredServiceMs));
    }
}
