using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// As <see cref="CallScopeChatClient"/> for embeddings: a call made without a <see cref="CallProgress"/> gets one for its
/// model, so its attempts go through that model's pipeline (its own breaker and gate), not one shared by every model.
/// </summary>
internal sealed class CallScopeEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, string model)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var scope = CallProgress.Current is null ? new CallProgress(model).Enter() : null;
        return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
    }
}
