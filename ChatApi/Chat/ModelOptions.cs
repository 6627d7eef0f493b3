using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// Section <c>OpenAI</c>, key <c>Models</c>: which models a user may pick. How calls to them behave is the
/// retry library's section, <c>OpenAI:Resilience</c>.
/// </summary>
public sealed class ModelOptions : IValidatableObject
{
    public const string SectionName = "OpenAI";

    /// <summary>Models offered to users; the first one is the default.</summary>
    public List<string> Models { get; set; } = [];

    public string DefaultModel => Models.Count > 0 ? Models[0] : "gpt-4o";

    public IReadOnlyList<string> EffectiveModels => Models.Count > 0 ? Models : ["gpt-4o", "gpt-4o-mini"];

    /// <summary>
    /// A model to go on with, once, when the requested model's attempts were used up by transient failures (key
    /// <c>OpenAI:FallbackModel</c>); null (the default) turns the fallback off. ChatApi makes that call, on the fallback
    /// model's own client, so its own breaker and gate.
    /// </summary>
    public string? FallbackModel { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Models.Any(string.IsNullOrWhiteSpace))
        {
            yield return new($"{SectionName}:Models must not contain empty names.", [nameof(Models)]);
        }

        if (FallbackModel is not null && string.IsNullOrWhiteSpace(FallbackModel))
        {
            yield return new($"{SectionName}:FallbackModel must not be empty when set.", [nameof(FallbackModel)]);
        }
    }
}

[OptionsValidator]
internal sealed partial class ModelOptionsValidator : IValidateOptions<ModelOptions>;
