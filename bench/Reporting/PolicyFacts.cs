using System.Globalization;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.Bench.Reporting;

/// <summary>The retry library's default policy numbers as the report quotes them, read from its code so the prose cannot drift.</summary>
public static class PolicyFacts
{
    private static readonly ResilienceOptions Defaults = new();

    public static string BaseDelay => TimeSpans.Seconds(Defaults.BaseDelay);

    public static int Attempts => Defaults.MaxRetryAttempts + 1;

    public static string BreakDuration => TimeSpans.Seconds(Defaults.CircuitBreaker.BreakDuration);

    public static int MinimumThroughput => Defaults.CircuitBreaker.MinimumThroughput;

    public static string FailureRatio => Defaults.CircuitBreaker.FailureRatio.ToString("0%", CultureInfo.InvariantCulture);

    public static string MarginMs => OpenAIResilience.ServerDelayMargin.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);

    /// <summary>
    /// The chance that, with each attempt failing independently with <paramref name="failureRate"/>, the first
    /// MinimumThroughput attempts already hold enough failures to open the breaker (a lower bound on a trip).
    /// </summary>
    public static string EarlyTripChance(double failureRate)
    {
        var n = MinimumThroughput;
        var needed = (int)Math.Ceiling(Defaults.CircuitBreaker.FailureRatio * n);
        var chance = 0.0;
        for (var k = needed; k <= n; k++)
        {
            chance += Binomial(n, k) * Math.Pow(failureRate, k) * Math.Pow(1 - failureRate, n - k);
        }

        return chance.ToString("0%", CultureInfo.InvariantCulture);
    }

    private static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }
}
