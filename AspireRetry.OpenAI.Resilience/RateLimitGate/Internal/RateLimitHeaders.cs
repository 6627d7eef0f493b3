using System.Globalization;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One response's <c>x-ratelimit-*</c> headers, as OpenAI documents them: per dimension (requests,
/// tokens) the limit, what remains, and the time until the bucket is full again.
/// </summary>
internal sealed record RateLimitHeaders(RateLimitDimension? Requests, RateLimitDimension? Tokens)
{
    public static readonly RateLimitHeaders None = new(null, null);

    public static RateLimitHeaders Read(HttpResponseMessage response) =>
        new(Dimension(response, "requests"), Dimension(response, "tokens"));

    private static RateLimitDimension? Dimension(HttpResponseMessage response, string name) =>
        Header(response, $"x-ratelimit-limit-{name}") is { } limit && long.TryParse(limit, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)
        && Header(response, $"x-ratelimit-remaining-{name}") is { } remaining && long.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r)
        && l > 0 && r >= 0
            ? new RateLimitDimension(l, Math.Min(r, l), ParseDuration(Header(response, $"x-ratelimit-reset-{name}")))
            : null;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>
    /// How long until the token budget is back at its reserve (at least one token), when it is below it; null otherwise.
    /// </summary>
    public TimeSpan? TokenWait(Func<long, long> reserveOf)
    {
        if (Tokens is { Reset: { } tokenReset } tokens && tokens.RatePerMs is { } tokenRate
            && tokens.Remaining < Math.Max(1, reserveOf(tokens.Limit)))
        {
            var refill = TimeSpan.FromMilliseconds((Math.Max(1, reserveOf(tokens.Limit)) - tokens.Remaining) / tokenRate);
            return TimeSpans.Min(refill, tokenReset);
        }

        return null;
    }

    /// <summary>
    /// OpenAI's reset format, Go durations: <c>20ms</c>, <c>1s</c>, <c>1.5s</c>, <c>6m0s</c>, <c>1h2m3s</c>.
    /// A bare number is read as seconds. Null when absent or unreadable.
    /// </summary>
    public static TimeSpan? ParseDuration(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        text = text.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var bare))
        {
            return bare >= 0 ? TimeSpan.FromSeconds(bare) : null;
        }

        double totalMs = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return null;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.')
            {
                i++;
            }

            double? scale = text[unitStart..i] switch
            {
                "h" => 3_600_000,
                "m" => 60_000,
                "s" => 1000,
                "ms" => 1,
                "us" or "µs" => 0.001,
                "ns" => 0.000_001,
                _ => null,
            };
            if (scale is null)
            {
                return null;
            }

            totalMs += value * scale.Value;
        }

        return TimeSpan.FromMilliseconds(totalMs);
    }
}

/// <summary>One rate-limit dimension: the limit per window, what remains now, and the time until it is full again.</summary>
internal sealed record RateLimitDimension(long Limit, long Remaining, TimeSpan? Reset)
{
    /// <summary>
    /// The refill rate in units per millisecond, from how much is missing and how long it takes to come
    /// back: OpenAI's and the emulator's buckets refill continuously. Null when the bucket is full
    /// (nothing missing, so nothing to measure) or the reset is unknown.
    /// </summary>
    public double? RatePerMs => Reset is { TotalMilliseconds: > 0 } reset && Remaining < Limit
        ? (Limit - Remaining) / reset.TotalMilliseconds
        : null;
}
