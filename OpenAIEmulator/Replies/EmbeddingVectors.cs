namespace AspireRetry.OpenAIEmulator.Replies;

/// <summary>
/// Deterministic embeddings: the same model and text always get the same unit-length vector, and a
/// shortened one (<c>dimensions</c>) is the start of the full one scaled back to unit length, as
/// OpenAI's text-embedding-3 models shorten theirs. The vectors carry no meaning: similar texts are
/// no closer than any others.
/// </summary>
public static class EmbeddingVectors
{
    /// <summary>The length of a vector when <c>dimensions</c> is not set: 3072 for a "large" model, as OpenAI's, else 1536.</summary>
    public static int NativeDimensions(string model) => model.Contains("large", StringComparison.OrdinalIgnoreCase) ? 3072 : 1536;

    public static float[] For(string model, string text, int dimensions)
    {
        // SplitMix64 from a seed of both hashes: a full-quality sequence from a cheap, stable start.
        var state = ((ulong)StableHash.Of(model) << 32) | StableHash.Of(text);
        var vector = new float[dimensions];
        var sumOfSquares = 0.0;
        for (var i = 0; i < dimensions; i++)
        {
            state += 0x9E3779B97F4A7C15ul;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
            z ^= z >> 31;
            var value = ((z >> 11) * (1.0 / (1ul << 53) * 2)) - 1;
            vector[i] = (float)value;
            sumOfSquares += value * value;
        }

        var scale = sumOfSquares > 0 ? 1 / Math.Sqrt(sumOfSquares) : 0;
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] = (float)(vector[i] * scale);
        }

        return vector;
    }
}
