using AspireRetry.Bench.Overhead;
using AspireRetry.Bench.Reporting;
using AspireRetry.Bench.Scenarios;

namespace AspireRetry.Bench;

/// <summary>Everything one run measured, for the report and the charts.</summary>
public sealed record BenchRun(
    BenchOptions Options,
    MachineInfo Machine,
    TimeScale Scale,
    Calibration Calibration,
    IReadOnlyList<ScenarioResult> Scenarios,
    IReadOnlyList<MicroResult>? Micro,
    LoadRun Load,
    DateTimeOffset StartedAt,
    TimeSpan Elapsed);
