using System.Diagnostics;
using System.Globalization;
using AspireRetry.Bench.Overhead;
using AspireRetry.Bench.Reporting;
using AspireRetry.Bench.Scenarios;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;

namespace AspireRetry.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench</c>: every retry strategy through every scenario, then the
/// overhead of ChatApi's pipeline; prints the tables and writes docs/benchmarks.md and its charts.
/// </summary>
public static class BenchMain
{
    /// <summary>The upstream's normal service time, in scenario seconds.</summary>
    private const double ServiceSeconds = 0.5;

    public static async Task<int> Main(string[] args)
    {
        if (BenchOptions.Parse(args) is not { } options)
        {
            return 2;
        }

        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var startedAt = DateTimeOffset.UtcNow;
        var elapsed = Stopwatch.StartNew();
        // A full run is 200 ms per scenario second (the 20 s outage scenario takes 4 s); --quick goes 8x faster.
        var scale = new TimeScale(options.Quick ? 25 : 200);
        // The harness stops itself, whatever hangs: a bounded run on a shared machine.
        using var deadline = new CancellationTokenSource(options.Quick ? TimeSpan.FromMinutes(2) : TimeSpan.FromMinutes(8));
        var machine = MachineInfo.Collect();
        Console.WriteLine($"AspireRetry benchmarks{(options.Quick ? " (--quick)" : "")}: {machine.Cpu}, {machine.LogicalCores} cores, {machine.Runtime}; {scale}");

        Task<EmulatorHost> StartEmulator() => EmulatorHost.StartAsync(scale.Ms(ServiceSeconds), retryAfterMsOnly: true, seed: 7);
        Calibration calibration;
        await using (var emulator = await StartEmulator())
        {
            calibration = await ScenarioRunner.CalibrateAsync(emulator, scale.Ms(ServiceSeconds), deadline.Token);
        }

        Console.WriteLine($"Service time: {calibration.ServiceMs:0.0} ms measured ({scale.Ms(ServiceSeconds)} ms configured).");
        var runner = new ScenarioRunner(StartEmulator, scale, calibration, options.Quick);
        var scenarios = new List<ScenarioResult>();
        foreach (var scenario in Scenario.All.Where(s => options.Only.Count == 0 || options.Only.Contains(s.Id)))
        {
            var result = await runner.RunAsync(scenario, deadline.Token);
            scenarios.Add(result);
            Console.WriteLine();
            Console.WriteLine($"## {scenario.Title}  ({result.Elapsed.TotalSeconds:0.0} s)");
            Console.WriteLine(MarkdownReport.ScenarioTable(result, scale));
            if (options.Dump)
            {
                Console.WriteLine(MarkdownReport.CallDump(result));
            }
        }

        if (options.Only.Count > 0)
        {
            if (Losses.Find(scenarios, scale) is { Count: > 0 } losses)
            {
                Console.WriteLine();
                Console.WriteLine("Where AspireRetry loses:");
                Console.Write(MarkdownReport.LossList(losses, scale));
            }

            var loadOnly = options.Only.Contains(StreamLoad.Id) ? await LoadRunAsync(options, deadline.Token) : LoadRun.Empty;
            Console.WriteLine($"--only: no report ({elapsed.Elapsed.TotalSeconds:0} s).");
            return scenarios.Count + loadOnly.Rows.Count > 0 ? 0 : 2;
        }

        IReadOnlyList<MicroResult>? micro = null;
        if (!options.Quick)
        {
            Console.WriteLine();
            Console.WriteLine("Micro-benchmark (BenchmarkDotNet, in-process short run)...");
            micro = MicroBenchmark.Run(Path.Combine(Path.GetTempPath(), "aspireretry-bench", "BenchmarkDotNet.Artifacts"));
            Console.WriteLine(MarkdownReport.MicroTable(micro));
        }

        var load = await LoadRunAsync(options, deadline.Token);

        var run = new BenchRun(options, machine, scale, calibration, scenarios, micro, load, startedAt, elapsed.Elapsed);
        Directory.CreateDirectory(options.OutputDirectory);
        var charts = Charts.Write(run, options.OutputDirectory);
        var reportPath = Path.Combine(options.OutputDirectory, "benchmarks.md");
        await File.WriteAllTextAsync(reportPath, MarkdownReport.Render(run, charts));

        Console.WriteLine();
        Console.WriteLine(MarkdownReport.Headline(run));
        Console.WriteLine($"Wrote {reportPath} and {string.Join(", ", charts)} in {elapsed.Elapsed.TotalSeconds:0} s.");
        return HarnessWorked(run) ? 0 : 1;
    }

    private static async Task<LoadRun> LoadRunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        Console.WriteLine();
        Console.WriteLine("Load run of /api/chat/stream...");
        var load = options.Quick
            ? await StreamLoad.RunAsync(clients: 4, TimeSpan.FromSeconds(1), rounds: 1, singleClientDuration: TimeSpan.FromMilliseconds(500), maxWarmUp: TimeSpan.Zero, cancellationToken)
            : await StreamLoad.RunAsync(clients: 32, TimeSpan.FromSeconds(5), rounds: 5, singleClientDuration: TimeSpan.FromSeconds(2), maxWarmUp: TimeSpan.FromSeconds(30), cancellationToken);
        Console.WriteLine(MarkdownReport.LoadTable(load));
        Console.WriteLine(MarkdownReport.LoadGoals(load));
        return load;
    }

    /// <summary>The smoke check: every strategy made calls in every scenario and its attempts were seen.</summary>
    private static bool HarnessWorked(BenchRun run)
    {
        var ok = true;
        foreach (var scenario in run.Scenarios)
        {
            foreach (var result in scenario.Results.Where(r => r.Metrics.Calls == 0 || r.Metrics.Requests == 0))
            {
                Console.Error.WriteLine($"Harness problem: {result.Strategy.Name} in {scenario.Scenario.Id} made {result.Metrics.Calls} calls and {result.Metrics.Requests} requests.");
                ok = false;
            }
        }

        if (run.Load.AllRows.Any(l => l.Completed == 0))
        {
            Console.Error.WriteLine("Harness problem: a load run completed no request.");
            ok = false;
        }

        return ok;
    }
}
