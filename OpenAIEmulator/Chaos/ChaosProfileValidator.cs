using System.Globalization;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>One problem with a profile: the camelCase field path and a message naming the allowed range.</summary>
public sealed record ProfileError(string Field, string Message);

public static class ChaosProfileValidator
{
    public static IReadOnlyList<ProfileError> Validate(ChaosProfile profile)
    {
        var errors = new List<ProfileError>();

        foreach (var (field, probability, _) in profile.Probabilities())
        {
            if (!(probability is >= 0 and <= 1))
            {
                errors.Add(new(field, $"{field} must be a probability between 0 and 1, but was {Format(probability)}."));
            }
        }

        var sum = profile.Probabilities().Sum(p => p.Probability);
        if (errors.Count == 0 && sum > 1 + 1e-9)
        {
            errors.Add(new("probabilities", $"The fault probabilities (rateLimit, insufficientQuota, serverError500, badGateway502, serviceUnavailable503, gatewayTimeout504, reset, hang, slowFirstToken, slowStream, midStreamDisconnect) must add up to at most 1, but add up to {Format(sum)}."));
        }

        AtLeast(errors, "retryAfterMs", profile.RetryAfterMs, 0);
        AtLeast(errors, "hangMs", profile.HangMs, 0);
        AtLeast(errors, "slowFirstTokenMs", profile.SlowFirstTokenMs, 0);
        AtLeast(errors, "disconnectAfterChunks", profile.DisconnectAfterChunks, 0);
        if (!(profile.SlowTokensPerSecond > 0) || double.IsInfinity(profile.SlowTokensPerSecond))
        {
            errors.Add(new("slowTokensPerSecond", $"slowTokensPerSecond must be a number greater than 0, but was {Format(profile.SlowTokensPerSecond)}."));
        }

        if (profile.TokensPerSecond is { } tps && (!(tps >= 0) || double.IsInfinity(tps)))
        {
            errors.Add(new("tokensPerSecond", $"tokensPerSecond must be 0 (no delay) or more, but was {Format(tps)}."));
        }

        if (profile.FirstTokenDelayMs is { } delay)
        {
            AtLeast(errors, "firstTokenDelayMs", delay, 0);
        }

        if (profile.RetryAfterHeaders?.FirstOrDefault(form => !RetryAdvice.HeaderForms.Contains(form)) is { } unknown)
        {
            errors.Add(new("retryAfterHeaders", $"retryAfterHeaders may name only {string.Join(", ", RetryAdvice.HeaderForms)}, but named '{unknown}'."));
        }

        if (profile.Name is { Length: > 200 })
        {
            errors.Add(new("name", "name must be at most 200 characters."));
        }

        var limits = profile.RateLimiter;
        AtLeast(errors, "rateLimiter.requestsPerWindow", limits.RequestsPerWindow, 1);
        AtLeast(errors, "rateLimiter.tokensPerWindow", limits.TokensPerWindow, 1);
        AtLeast(errors, "rateLimiter.windowMs", limits.WindowMs, 1);
        return errors;
    }

    private static void AtLeast(List<ProfileError> errors, string field, int value, int minimum)
    {
        if (value < minimum)
        {
            errors.Add(new(field, $"{field} must be {minimum} or more, but was {value}."));
        }
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
