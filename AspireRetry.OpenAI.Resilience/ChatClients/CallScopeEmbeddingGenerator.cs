using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// As <see cref="CallScopeChatClient"/> for embeddings: each call's <see cref="CallRoute"/> is this generator's model, so
/// its attempts go through that model's pipeline (its own breaker and gate), not one shared by every model; the answer's
/// usage settles the tokens its attempt reserved.
/// </summary>
internal sealed class CallScopeEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, string model)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        CallProgress.Current?.Called(model);
        var route = new CallRoute(model);
        using (route.Enter())
        {
            var embeddings = await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
            route.Tokens?.Settle(embeddings.Usage?.InputTokenCount, embeddings.Usage?.OutputTokenCount);
            return embeddings;
        }
    }
}
