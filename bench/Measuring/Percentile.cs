namespace AspireRetry.Bench.Measuring;

public static class Percentile
{
    /// <summary>Nearest-rank percentile (<paramref name="p"/> in 0..1) of values sorted ascending; NaN when there are none.</summary>
    public static double Of(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
