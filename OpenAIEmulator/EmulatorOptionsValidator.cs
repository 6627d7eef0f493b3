using AspireRetry.OpenAIEmulator.Chaos;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator;

/// <summary>Fails start-up with messages that name the configuration key at fault.</summary>
public sealed class EmulatorOptionsValidator : IValidateOptions<EmulatorOptions>
{
    public ValidateOptionsResult Validate(string? name, EmulatorOptions options)
    {
        var failures = new List<string>();
        const string prefix = EmulatorOptions.SectionName + ":";

        if (!(options.TokensPerSecond >= 0) || double.IsInfinity(options.TokensPerSecond))
        {
            failures.Add($"{prefix}TokensPerSecond must be 0 (no delay) or more, but was {options.TokensPerSecond}.");
        }

        if (options.FirstTokenDelayMs < 0)
        {
            failures.Add($"{prefix}FirstTokenDelayMs must be 0 or more, but was {options.FirstTokenDelayMs}.");
        }

        if (options.RequestLogCapacity < 1)
        {
            failures.Add($"{prefix}RequestLogCapacity must be 1 or more, but was {options.RequestLogCapacity}.");
        }

        if (options.Models.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{prefix}Models must not contain empty model names.");
        }

        if (options.AcceptedBearerTokens.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{prefix}AcceptedBearerTokens must not contain empty tokens.");
        }

        if (options.EmbeddingModels.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{prefix}EmbeddingModels must not contain empty model names.");
        }

        failures.AddRange(ChaosProfileValidator.Validate(options.Chaos)
            .Select(error => $"{prefix}Chaos:{ToConfigKey(error.Field)}: {error.Message}"));

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static string ToConfigKey(string field) =>
        string.Join(':', field.Split('.').Select(part => char.ToUpperInvariant(part[0]) + part[1..]));
}
