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

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Models.Any(string.IsNullOrWhiteSpace))
        {
            yield return new($"{SectionName}:Models must not contain empty names.", [nameof(Models)]);
        }
    }
}

[OptionsValidator]
internal sealed partial class ModelOptionsValidator : IValidateOptions<ModelOptions>;
