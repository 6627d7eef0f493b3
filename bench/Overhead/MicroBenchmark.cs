using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace AspireRetry.Bench.Overhead;

/// <summary>One row of the micro-benchmark: mean time and allocations per call.</summary>
public sealed record MicroResult(string Name, double MeanUs, double ErrorUs, long? AllocatedBytes, bool Baseline);

public static class MicroBenchmark
{
    /// <summary>
    /// Runs <see cref="PipelineBenchmarks"/> in this process (no generated project to build, which would
    /// take longer than the whole run) with a short job: 3 warm-up and 10 measured iterations.
    /// </summary>
    public static IReadOnlyList<MicroResult> Run(string artifactsPath)
    {
        var config = ManualConfig.CreateEmpty()
            .AddJob(Job.ShortRun.WithIterationCount(10).WithToolchain(InProcessEmitToolchain.Instance).WithId("Short-InProcess"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddLogger(NullLogger.Instance)
            .WithArtifactsPath(artifactsPath)
            .WithOptions(ConfigOptions.DisableLogFile);

        var summary = BenchmarkRunner.Run<PipelineBenchmarks>(config);
        var results = new List<MicroResult>();
        foreach (var report in summary.Reports)
        {
            if (report.ResultStatistics is not { } stats)
            {
                throw new InvalidOperationException($"The micro-benchmark {report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo} produced no measurements.");
            }

            results.Add(new MicroResult(
                report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\''),
                stats.Mean / 1000,
                (double.IsNaN(stats.StandardError) ? 0 : stats.StandardError) / 1000,
                report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase),
                report.BenchmarkCase.Descriptor.Baseline));
        }

        if (results.Count == 0)
        {
            throw new InvalidOperationException("The micro-benchmark ran no benchmark: " + string.Join("; ", summary.ValidationErrors.Select(e => e.Message)));
        }

        return results;
    }
}
