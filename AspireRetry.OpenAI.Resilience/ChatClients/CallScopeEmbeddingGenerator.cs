using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// As <see cref="CallScopeChatClient"/> for embeddings: each call's <see cref="CallRoute"/> is this generator's model, so
/// its attempts go through that model's pipeline (its own breaker and gate), not one shared by every model; the answer's
/// usage settles the tokens its attempt reserved. A call with more inputs than one request may carry (OpenAI's 2,048
/// inputs or 300,000 tokens, or the upstream's whole token bucket) is split into requests that each fit, in order,
/// sent together and paced by the same gate; their embeddings come back as one list, in the inputs' order.
/// </summary>
/// <param name="inner">The generator below.</param>
/// <param name="model">The model whose pipeline the calls go through.</param>
/// <param name="tokenCeiling">The largest estimate one request may have at the model's gate (its token bucket less the margin reservations hold); null while unknown.</param>
internal sealed class CallScopeEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, string model, Func<long?>? tokenCeiling = null)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    /// <summary>OpenAI's most inputs in one embeddings request.</summary>
    public const int MaxInputs = 2048;

    /// <summary>OpenAI's most tokens over all inputs of one embeddings request.</summary>
    public const long MaxTokens = 300_000;

    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        CallProgress.Current?.Called(model);
        var inputs = values as IReadOnlyList<string> ?? [.. values];
        var batches = Batches(inputs, Math.Min(MaxTokens, tokenCeiling?.Invoke() ?? long.MaxValue));
        if (batches.Count == 1)
        {
            return await GenerateOneAsync(inputs, options, cancellationToken).ConfigureAwait(false);
        }

        // Together, so the gate paces them by what the bucket holds; the first failure cancels the rest.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var parts = await Task.WhenAll(batches.Select(async batch =>
        {
            try
            {
                return await GenerateOneAsync(batch, options, failed.Token).ConfigureAwait(false);
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        })).ConfigureAwait(false);
        return Join(parts);
    }

    private async Task<GeneratedEmbeddings<Embedding<float>>> GenerateOneAsync(
        IReadOnlyList<string> inputs, EmbeddingGenerationOptions? options, CancellationToken cancellationToken)
    {
        var route = new CallRoute(model);
        using (route.Enter())
        {
            var embeddings = await base.GenerateAsync(inputs, options, cancellationToken).ConfigureAwait(false);
            route.Tokens?.Settle(embeddings.Usage?.InputTokenCount, embeddings.Usage?.OutputTokenCount);
            return embeddings;
        }
    }

    /// <summary>
    /// The inputs in consecutive batches of at most <see cref="MaxInputs"/> inputs and <paramref name="maxTokens"/> tokens
    /// (an input larger than that alone goes alone: the gate or the upstream says why it cannot go). Counting is skipped
    /// when the characters alone show the whole call fits (a token is at least one character).
    /// </summary>
    internal List<IReadOnlyList<string>> Batches(IReadOnlyList<string> inputs, long maxTokens)
    {
        if (inputs.Count <= MaxInputs && inputs.Sum(input => (long)input.Length) <= maxTokens)
        {
            return [inputs];
        }

        var batches = new List<IReadOnlyList<string>>();
        var batch = new List<string>();
        long tokens = 0;
        foreach (var input in inputs)
        {
            var size = TokenCounter.Count(model, input);
            if (batch.Count > 0 && (batch.Count == MaxInputs || tokens + size > maxTokens))
            {
                batches.Add(batch);
                batch = [];
                tokens = 0;
            }

            batch.Add(input);
            tokens += size;
        }

        batches.Add(batch);
        return batches;
    }

    private static GeneratedEmbeddings<Embedding<float>> Join(GeneratedEmbeddings<Embedding<float>>[] parts)
    {
        var joined = new GeneratedEmbeddings<Embedding<float>>(parts.SelectMany(part => part));
        if (parts.All(part => part.Usage is not null))
        {
            joined.Usage = new UsageDetails
            {
                InputTokenCount = parts.Sum(part => part.Usage!.InputTokenCount ?? 0),
                TotalTokenCount = parts.Sum(part => part.Usage!.TotalTokenCount ?? 0),
            };
        }

        return joined;
    }
}
