using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;

namespace AspireRetry.OpenAIEmulator.Tests;

// OPENAI001: OpenAI 2.15 marks the OpenAIClient(AuthenticationPolicy, OpenAIClientOptions) constructor experimental,
// yet it is the only way to send Azure's api-key header (or a token) with the plain OpenAI client.
#pragma warning disable OPENAI001

/// <summary>An emulator that also accepts one bearer token on Azure paths, as a test's TokenCredential would hand out.</summary>
public sealed class AzureEmulatorFixture : EmulatorFixture
{
    public const string EntraToken = "entra-token-for-tests";

    protected override IEnumerable<string> Arguments => [$"--Emulator:AcceptedBearerTokens:0={EntraToken}"];

    /// <summary>The Azure v1 endpoint, as a client built for Azure points the OpenAI SDK at it.</summary>
    public Uri AzureV1Endpoint => new(BaseAddress, "openai/v1/");

    /// <summary>The SDK on Azure's v1 API with the key in an <c>api-key</c> header, as Azure key authentication sends it.</summary>
    public OpenAIClient CreateAzureKeyClient(string caller, string key = ApiKey) =>
        new(ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(key), "api-key"), AzureOptions(caller));

    /// <summary>The SDK on Azure's v1 API with <c>Authorization: Bearer {token}</c>, what an Entra ID token policy sends.</summary>
    public OpenAIClient CreateAzureTokenClient(string caller, string token = EntraToken) =>
        new(ApiKeyAuthenticationPolicy.CreateBearerAuthorizationPolicy(new ApiKeyCredential(token)), AzureOptions(caller));

    private OpenAIClientOptions AzureOptions(string caller)
    {
        var options = SdkOptions(caller);
        options.Endpoint = AzureV1Endpoint;
        return options;
    }
}
