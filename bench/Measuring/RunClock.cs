using System.Diagnostics;

namespace AspireRetry.Bench.Measuring;

/// <summary>Milliseconds since a scenario started, so calls, attempts and outages share one time line.</summary>
public sealed class RunClock
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public double NowMs => Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
}
