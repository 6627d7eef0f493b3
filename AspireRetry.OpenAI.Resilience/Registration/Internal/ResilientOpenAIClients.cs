using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One official <see cref="OpenAIClient"/> per upstream, in priority order, each with its own retries off and its
/// transport the layer's HttpClient: every call made on it (chat, embeddings, Responses, files...) goes through the one
/// retry layer.
/// </summary>
internal sealed class ResilientOpenAIClients(IHttpClientFactory httpClientFactory, OpenAIUpstreams upstreams, IOptions<ResilienceOptions> resilience)
{
    private readonly Lazy<OpenAIClient[]> _clients = new(() =>
        [.. upstreams.All.Select(u => Create(httpClientFactory, u.Connection, resilience.Value))]);

    /// <summary>The client of the <paramref name="position"/>-th upstream (0: the primary).</summary>
    public OpenAIClient this[int position] => _clients.Value[position];

    private static OpenAIClient Create(IHttpClientFactory factory, OpenAIConnection connection, ResilienceOptions resilience)
    {
        var options = new OpenAIClientOptions { Endpoint = connection.ApiEndpoint }.UseResilientTransport(factory, resilience);

        // Azure's key goes in an api-key header; its Entra ID token is set on each attempt inside the layer
        // (EntraTokenHandler), where a policy of the SDK's would set it once for all of a call's attempts.
#pragma warning disable OPENAI001 // Experimental in OpenAI 2.15: the SDK's one way to send Azure's api-key header, or no credential; tests against the emulator's Azure dialect pin what goes on the wire.
        return !connection.IsAzure ? new OpenAIClient(new ApiKeyCredential(connection.Key), options)
            : connection.UsesEntraId ? new OpenAIClient(new NoAuthentication(), options)
            : new OpenAIClient(ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(connection.Key), "api-key"), options);
#pragma warning restore OPENAI001
    }

    /// <summary>The SDK's authentication step for an upstream whose credential the layer sets per attempt.</summary>
    private sealed class NoAuthentication : AuthenticationPolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessNext(message, pipeline, currentIndex);

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessNextAsync(message, pipeline, currentIndex);
    }
}
