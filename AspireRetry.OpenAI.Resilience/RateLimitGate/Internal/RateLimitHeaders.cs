using System.Globalization;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One response's <c>x-ratelimit-*</c> headers, as OpenAI documents them: per dimension (requests,
/// tokens) the limit, what remains, and the time until the bucket is full again. Azure OpenAI sends only what
/// remains (<c>x-ratelimit-remaining-*</c>, no <c>-limit-</c> nor <c>-reset-</c>): those counts are kept apart
/// (<see cref="RequestsRemaining"/>, <see cref="TokensRemaining"/>) for the gate to complete from what it saw.
/// Placeholders (a limit of zero or less, a negative count; a remaining-only zero, which Azure's Responses API
/// has sent where it knows no limit) are ignored, never obeyed.
/// </summary>
/// <param name="Requests">The requests dimension, when published in full.</param>
/// <param name="Tokens">The tokens dimension, when published in full.</param>
/// <param name="RequestsRemaining">The requests remaining, when that is all that was published.</param>
/// <param name="TokensRemaining">The tokens remaining, when that is all that was published.</param>
/// <param name="RequestsMayRise">
/// The requests dimension was completed by the gate from the newest count it has (no later-sent request answered
/// before it): its estimated rate may lag behind the upstream's, so the mirror may rise to this count.
/// </param>
internal sealed record RateLimitHeaders(
    RateLimitDimension? Requests, RateLimitDimension? Tokens, long? RequestsRemaining = null, long? TokensRemaining = null, bool RequestsMayRise = false)
{
    public static readonly RateLimitHeaders None = new(null, null);

    public static RateLimitHeaders Read(HttpResponseMessage response) =>
        new(Dimension(response, "requests"), Dimension(response, "tokens"), RemainingOnly(response, "requests"), RemainingOnly(response, "tokens"));

    /// <summary>Whether a dimension came as a remaining count alone, which the gate completes.</summary>
    public bool HasRemainingOnly => RequestsRemaining is not null || TokensRemaining is not null;

    private static long? RemainingOnly(HttpResponseMessage response, string name) =>
        Header(response, $"x-ratelimit-limit-{name}") is null
        && Header(response, $"x-ratelimit-remaining-{name}") is { } remaining && long.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r)
        && r > 0
            ? r
            : null;

    private static RateLimitDimension? Dimension(HttpResponseMessage response, string name) =>
        Header(response, $"x-ratelimit-limit-{name}") is { } limit && long.TryParse(limit, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)
        && Header(response, $"x-ratelimit-remaining-{name}") is { } remaining && long.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r)
        && l > 0 && r >= 0
            ? new RateLimitDimension(l, Math.Min(r, l), ParseDuration(Header(response, $"x-ratelimit-reset-{name}")))
            : null;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

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

/// <summary>
/// One rate-limit dimension: the limit per window, what remains now, and the time until it is full again;
/// <paramref name="Estimated"/> when the gate completed it from a remaining count alone (<see cref="RemainingOnlyEstimate"/>).
/// </summary>
internal sealed record RateLimitDimension(long Limit, long Remaining, TimeSpan? Reset, bool Estimated = false)
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
