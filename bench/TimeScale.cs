using System.Globalization;

namespace AspireRetry.Bench;

/// <summary>
/// The run's clock: one scenario "second" lasts <see cref="UnitMs"/> real milliseconds, so a 10 s
/// outage and a naive 1-2-4-8 s backoff keep their proportions while the whole run fits in minutes.
/// Every strategy's own default times are multiplied by <see cref="Factor"/> the same way.
/// </summary>
public sealed record TimeScale(double UnitMs)
{
    /// <summary>Real time per scenario time: 0.1 when a scenario second lasts 100 ms.</summary>
    public double Factor => UnitMs / 1000;

    /// <summary>A scenario duration given in scenario seconds, as real time.</summary>
    public TimeSpan Seconds(double scenarioSeconds) => TimeSpan.FromMilliseconds(scenarioSeconds * UnitMs);

    public int Ms(double scenarioSeconds) => (int)Math.Round(scenarioSeconds * UnitMs);

    /// <summary>A real-world default (e.g. the standard handler's 10 s attempt timeout) in this run's time.</summary>
    public TimeSpan Scale(TimeSpan realWorld) => realWorld * Factor;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"1 scenario second = {UnitMs:0} ms");
}
