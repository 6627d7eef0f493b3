using System.Security.Cryptography;
using System.Text;
using AspireRetry.OpenAIEmulator.Azure;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Which credential a request carried (<see cref="Credential"/>: <c>bearer</c>, <c>api-key</c>, or null for none) and,
/// when it may not proceed, the 401 to send.
/// </summary>
public sealed record AuthResult(string? Credential, ErrorReply? Rejection);

/// <summary>
/// Checks credentials as each dialect does. OpenAI: <c>Authorization: Bearer {Emulator:ApiKey}</c>. Azure: the key as
/// <c>api-key</c> or as a bearer token, or a bearer token in <c>Emulator:AcceptedBearerTokens</c> (what a test's
/// TokenCredential hands out). With nothing configured for a dialect, anything goes.
/// </summary>
public sealed class ApiKeyCheck(IOptions<EmulatorOptions> options)
{
    private const string ApiKeyHeader = "api-key";

    private readonly byte[]? _key = string.IsNullOrEmpty(options.Value.ApiKey) ? null : Encoding.UTF8.GetBytes(options.Value.ApiKey);
    private readonly byte[][] _tokens = [.. options.Value.AcceptedBearerTokens.Select(Encoding.UTF8.GetBytes)];

    public AuthResult Check(HttpRequest request, Dialect dialect)
    {
        var apiKey = request.Headers[ApiKeyHeader].FirstOrDefault();
        var bearer = Bearer(request);
        if (dialect.IsAzure())
        {
            return CheckAzure(apiKey, bearer);
        }

        var credential = bearer is not null ? "bearer" : apiKey is not null ? ApiKeyHeader : null;
        return _key is null ? new(credential, null)
            : bearer is null ? new(credential, ErrorReply.OpenAI(StatusCodes.Status401Unauthorized, OpenAIErrors.MissingApiKey))
            : new(credential, IsKey(bearer) ? null : ErrorReply.OpenAI(StatusCodes.Status401Unauthorized, OpenAIErrors.IncorrectApiKey));
    }

    private bool Open => _key is null && _tokens.Length == 0;

    private AuthResult CheckAzure(string? apiKey, string? bearer)
    {
        // The api-key header is read first: a request that sends both is judged by its key.
        if (apiKey is not null)
        {
            return new(ApiKeyHeader, Open || IsKey(apiKey) ? null : AzureErrors.InvalidKey);
        }

        if (bearer is not null)
        {
            return new("bearer", Open || IsKey(bearer) || _tokens.Any(token => Matches(bearer, token)) ? null : AzureErrors.InvalidToken);
        }

        return new(null, Open ? null : AzureErrors.MissingKey);
    }

    private bool IsKey(string sent) => _key is not null && Matches(sent, _key);

    private static string? Bearer(HttpRequest request) =>
        request.Headers.Authorization.FirstOrDefault() is { } authorization && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim()
            : null;

    // Never leak through timing how much of a key was right.
    private static bool Matches(string sent, byte[] expected) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), expected);
}
