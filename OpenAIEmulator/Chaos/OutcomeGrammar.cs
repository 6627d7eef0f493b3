using System.Globalization;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// Parses scripted outcomes: <c>kind[:key=value[,key=value]]</c>, e.g. <c>429:retry-after-ms=150</c>,
/// <c>429:x-ms-retry-after-ms=1500</c>, <c>hang:ms=2000</c>, <c>disconnect:after=5</c>, <c>503:should-retry=false</c>.
/// </summary>
public static class OutcomeGrammar
{
    // Every kind that answers with an error response may carry OpenAI's x-should-retry advice.
    private const string ShouldRetryOption = "should-retry";
    private static readonly string[] ErrorOptions = [ShouldRetryOption];
    private static readonly string[] RetryAfterOptions = ["retry-after-ms", "retry-after", "retry-after-date", "x-ms-retry-after-ms", ShouldRetryOption];

    private static readonly (string Kind, Fault Fault, string[] Options)[] Kinds =
    [
        ("ok", Fault.None, []),
        ("429", Fault.RateLimit, RetryAfterOptions),
        ("quota", Fault.InsufficientQuota, ErrorOptions),
        ("400", Fault.BadRequest, ErrorOptions),
        ("401", Fault.Unauthorized, ErrorOptions),
        ("403", Fault.Forbidden, ErrorOptions),
        ("404", Fault.NotFound, ErrorOptions),
        ("408", Fault.RequestTimeout, ErrorOptions),
        ("409", Fault.Conflict, ErrorOptions),
        ("422", Fault.Unprocessable, ErrorOptions),
        ("500", Fault.ServerError, ErrorOptions),
        ("502", Fault.BadGateway, ErrorOptions),
        ("503", Fault.ServiceUnavailable, RetryAfterOptions),
        ("504", Fault.GatewayTimeout, ErrorOptions),
        ("reset", Fault.Reset, []),
        ("hang", Fault.Hang, ["ms"]),
        ("slow-first-token", Fault.SlowFirstToken, ["ms"]),
        ("slow-stream", Fault.SlowStream, ["tps"]),
        ("disconnect", Fault.MidStreamDisconnect, ["after"]),
    ];

    public static string AllowedKinds { get; } = string.Join(", ", Kinds.Select(k => k.Kind));

    public static bool TryParse(string text, out ChaosOutcome outcome, out string error)
    {
        outcome = ChaosOutcome.Rolled(Fault.None);
        error = "";
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':');
        var kindText = (colon < 0 ? trimmed : trimmed[..colon]).Trim().ToLowerInvariant();

        var match = Array.FindIndex(Kinds, k => k.Kind == kindText);
        if (match < 0)
        {
            error = $"unknown kind '{kindText}'. Allowed kinds: {AllowedKinds}.";
            return false;
        }

        var (kind, fault, allowed) = Kinds[match];
        var result = new ChaosOutcome(trimmed, fault);
        int? ms = null, seconds = null, date = null, xMs = null;

        var options = colon < 0 ? [] : trimmed[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var option in options)
        {
            var parts = option.Split('=', 2, StringSplitOptions.TrimEntries);
            var key = parts[0].ToLowerInvariant();
            if (!allowed.Contains(key))
            {
                error = allowed.Length == 0
                    ? $"'{kind}' takes no options, but got '{option}'."
                    : $"unknown option '{key}' for '{kind}'. Allowed options: {string.Join(", ", allowed)}.";
                return false;
            }

            if (parts.Length < 2 || parts[1].Length == 0)
            {
                error = $"option '{key}' needs a value, e.g. '{kind}:{key}=100'.";
                return false;
            }

            if (key == ShouldRetryOption)
            {
                if (!bool.TryParse(parts[1], out var shouldRetry))
                {
                    error = $"option '{ShouldRetryOption}' must be true or false, but got '{parts[1]}'.";
                    return false;
                }

                result = result with { ShouldRetry = shouldRetry };
                continue;
            }

            if (key == "tps")
            {
                if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var tps) || !(tps > 0) || double.IsInfinity(tps))
                {
                    error = $"option 'tps' must be a number greater than 0, but got '{parts[1]}'.";
                    return false;
                }

                result = result with { TokensPerSecond = tps };
                continue;
            }

            if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                error = $"option '{key}' must be a whole number from 0 to {int.MaxValue}, but got '{parts[1]}'.";
                return false;
            }

            switch (key)
            {
                case "retry-after-ms": ms = value; break;
                case "retry-after": seconds = value; break;
                case "retry-after-date": date = value; break;
                case "x-ms-retry-after-ms": xMs = value; break;
                case "ms": result = result with { Milliseconds = value }; break;
                case "after": result = result with { AfterChunks = value }; break;
            }
        }

        if (seconds is not null && date is not null)
        {
            error = "'retry-after' and 'retry-after-date' both set the Retry-After header; use one of them.";
            return false;
        }

        outcome = ms is null && seconds is null && date is null && xMs is null
            ? result
            : result with { RetryAfter = new RetryAfterSpec(ms, seconds, date, xMs) };
        return true;
    }
}
