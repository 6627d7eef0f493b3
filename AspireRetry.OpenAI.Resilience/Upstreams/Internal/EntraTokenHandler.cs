using System.Net.Http.Headers;
using Azure.Core;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Inside the pipeline, so once per attempt: a request to an Azure OpenAI upstream that has no key carries an Entra ID
/// token, asked of the <see cref="TokenCredential"/> for each attempt (the credential caches and renews it), so a retry
/// after a long wait never goes with a token that expired meanwhile.
/// </summary>
internal sealed class EntraTokenHandler(IReadOnlyList<OpenAIConnection> entraUpstreams, Func<TokenCredential> credential) : DelegatingHandler
{
    /// <summary>The scope Azure OpenAI (Cognitive Services) tokens are issued for.</summary>
    public const string Scope = "https://cognitiveservices.azure.com/.default";

    private readonly Lazy<TokenCredential> _credential = new(credential);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await AuthorizeAsync(request, cancellationToken).ConfigureAwait(false);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AuthorizeAsync(request, cancellationToken).AsTask().GetAwaiter().GetResult();
        return base.Send(request, cancellationToken);
    }

    private async ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is not { } uri || !entraUpstreams.Any(u => u.ApiEndpoint.IsBaseOf(uri)))
        {
            return;
        }

        var token = await _credential.Value.GetTokenAsync(new TokenRequestContext([Scope]), cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
    }
}
