using System.Globalization;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// The Retry-After headers one response carries, and the wait they advise in milliseconds
/// (recorded in the request log so tests can check a client waited at least that long).
/// </summary>
public sealed record RetryAdvice(long? RetryAfterMs, string? RetryAfter, long AdvisedMs)
{
    /// <summary>Both headers: <c>retry-after-ms</c> exact, <c>retry-after</c> rounded up to whole seconds.</summary>
    public static RetryAdvice Both(long milliseconds) =>
        new(milliseconds, CeilingSeconds(milliseconds).ToString(CultureInfo.InvariantCulture), milliseconds);

    /// <summary>Exactly the headers a script asked for.</summary>
    public static RetryAdvice FromSpec(RetryAfterSpec spec, DateTimeOffset now)
    {
        string? header = spec.Seconds?.ToString(CultureInfo.InvariantCulture);
        long? dateMs = null;
        if (spec.DateSeconds is { } seconds)
        {
            // HTTP dates have whole seconds: round up so the date is never sooner than asked.
            var target = now.AddSeconds(seconds);
            var rounded = new DateTimeOffset((target.UtcTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
            header = rounded.ToString("R", CultureInfo.InvariantCulture);
            dateMs = (long)Math.Ceiling((rounded - now).TotalMilliseconds);
        }

        var advised = spec.Milliseconds ?? (spec.Seconds * 1000L) ?? dateMs ?? 0;
        return new RetryAdvice(spec.Milliseconds, header, advised);
    }

    public static long CeilingSeconds(long milliseconds) => (milliseconds + 999) / 1000;
}
