using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>Checks the attributes' ranges and <see cref="ResilienceOptions.Validate"/>'s rules; generated at build time.</summary>
[OptionsValidator]
internal sealed partial class GeneratedResilienceOptionsValidator : IValidateOptions<ResilienceOptions>;

/// <summary>
/// Validates <see cref="ResilienceOptions"/> at start-up with messages that name the bad key as it is written in
/// configuration. The generated validator names a member by its path from the name it is given, with dots
/// ("OpenAI:Resilience.RateLimit.Reserve"), and ignores a <c>[Range]</c>'s own message; this turns the path
/// into the key ("OpenAI:Resilience:RateLimit:Reserve").
/// </summary>
internal sealed partial class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>
{
    private readonly GeneratedResilienceOptionsValidator _generated = new();

    public ValidateOptionsResult Validate(string? name, ResilienceOptions options)
    {
        var result = _generated.Validate(ResilienceOptions.SectionName, options);
        return result.Failed
            ? ValidateOptionsResult.Fail(result.Failures!.Select(failure => MemberPath().Replace(failure, path => path.Value.Replace('.', ':'))))
            : result;
    }

    [GeneratedRegex(@"OpenAI:Resilience(\.\w+)+")]
    private static partial Regex MemberPath();
}
