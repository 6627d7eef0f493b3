using System.Globalization;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// The Retry-After headers one response carries, and the wait they advise in milliseconds
/// (recorded in the request log so tests can check a client waited at least that long).
/// <paramref name="XMsRetryAfterMs"/> is Azure's <c>x-ms-retry-after-ms</c>.
/// </summary>
public sealed record RetryAdvice(long? RetryAfterMs, string? RetryAfter, long AdvisedMs, long? XMsRetryAfterMs = null)
{
    public const string RetryAfterMsHeader = "retry-after-ms";
    public const string RetryAfterHeader = "retry-after";
    public const string XMsRetryAfterMsHeader = "x-ms-retry-after-ms";

    /// <summary>The header forms a profile may choose (<see cref="ChaosProfile.RetryAfterHeaders"/>).</summary>
    public static IReadOnlyList<string> HeaderForms { get; } = [RetryAfterMsHeader, RetryAfterHeader, XMsRetryAfterMsHeader];

    /// <summary>What OpenAI sends, and so the default: <c>retry-after-ms</c> exact, <c>retry-after</c> in whole seconds.</summary>
    public static IReadOnlyList<string> DefaultForms { get; } = [RetryAfterMsHeader, RetryAfterHeader];

    /// <summary>
    /// A wait of <paramref name="milliseconds"/> in each of <paramref name="forms"/> (null: <see cref="DefaultForms"/>),
    /// <c>retry-after</c> rounded up to whole seconds; null when no form is asked for, as nothing is then advised.
    /// </summary>
    public static RetryAdvice? For(long milliseconds, IReadOnlyCollection<string>? forms)
    {
        forms ??= DefaultForms;
        return forms.Count == 0 ? null : new(
            forms.Contains(RetryAfterMsHeader) ? milliseconds : null,
            forms.Contains(RetryAfterHeader) ? CeilingSeconds(milliseconds).ToString(CultureInfo.InvariantCulture) : null,
            milliseconds,
            forms.Contains(XMsRetryAfterMsHeader) ? milliseconds : null);
    }

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

        // Where forms disagree, the log reports the one clients read first (Azure's SDK reads retry-after-ms, then x-ms-).
        var advised = spec.Milliseconds ?? spec.XMsMilliseconds ?? (spec.Seconds * 1000L) ?? dateMs ?? 0;
        return new RetryAdvice(spec.Milliseconds, header, advised, spec.XMsMilliseconds);
    }

    public static long CeilingSeconds(long milliseconds) => (milliseconds + 999) / 1000;
}
