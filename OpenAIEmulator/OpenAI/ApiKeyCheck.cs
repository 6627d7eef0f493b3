using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>Checks <c>Authorization: Bearer</c> against <c>Emulator:ApiKey</c>; with no key configured, anything goes.</summary>
public sealed class ApiKeyCheck(IOptions<EmulatorOptions> options)
{
    private readonly byte[]? _expected = string.IsNullOrEmpty(options.Value.ApiKey) ? null : Encoding.UTF8.GetBytes(options.Value.ApiKey);

    /// <summary>The 401 error to send, or null when the request may proceed.</summary>
    public OpenAIError? Check(HttpRequest request)
    {
        if (_expected is null)
        {
            return null;
        }

        var authorization = request.Headers.Authorization.FirstOrDefault();
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return OpenAIErrors.MissingApiKey;
        }

        var sent = Encoding.UTF8.GetBytes(authorization["Bearer ".Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(sent, _expected) ? null : OpenAIErrors.IncorrectApiKey;
    }
}
