using System.Collections.Concurrent;
using Microsoft.ML.Tokenizers;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Counts text in a model's tokens before a request is sent: the model's own tiktoken encoding (o200k for gpt-4o, 4.1,
/// 5 and the o-series; cl100k for gpt-4, 3.5 and the embedding models), else a cheap estimate of four characters a
/// token (an Azure deployment named freely, another provider's model). Thread-safe; each encoding is loaded once, in the
/// background as soon as a gate knows it will count (<see cref="Preload"/>), else by the first request counted.
/// </summary>
internal static class TokenCounter
{
    private static readonly ConcurrentDictionary<string, Tokenizer?> ByModel = new(StringComparer.OrdinalIgnoreCase);
    private static readonly ConcurrentDictionary<string, byte> Preloading = new(StringComparer.OrdinalIgnoreCase);
    private static readonly Lazy<Tokenizer> O200k = new(() => TiktokenTokenizer.CreateForModel("gpt-4o"));
    private static readonly Lazy<Tokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForModel("gpt-4"));

    /// <summary>The tokens of <paramref name="text"/> for <paramref name="model"/>.</summary>
    public static int Count(string model, string text) =>
        text.Length == 0 ? 0 : TokenizerFor(model) is { } tokenizer ? tokenizer.CountTokens(text) : Estimate(text);

    /// <summary>Whether <paramref name="model"/> is counted with its own encoding (else estimated).</summary>
    public static bool Knows(string model) => TokenizerFor(model) is not null;

    /// <summary>
    /// Loads <paramref name="model"/>'s encoding on the thread pool, unless it is loaded or loading already or the model has
    /// none. A vocabulary takes a few hundred milliseconds to load (o200k's about 0.3 s): loaded by the first request that
    /// needs counting, it would hold that request, and every call waiting behind it at the gate, while the upstream's
    /// token bucket refills unused. A failure to load is left to that first request to report.
    /// </summary>
    public static void Preload(string model)
    {
        if (EncodingOf(model) is null || ByModel.ContainsKey(model) || !Preloading.TryAdd(model, 0))
        {
            return;
        }

        _ = Task.Run(() =>
        {
            try
            {
                TokenizerFor(model);
            }
            catch (Exception)
            {
                // Not this thread's to report: the encoding's Lazy keeps the failure, and the first request counted meets it.
            }
        });
    }

    /// <summary>Whether <paramref name="model"/>'s encoding is loaded (for tests).</summary>
    internal static bool IsLoaded(string model) => ByModel.TryGetValue(model, out var tokenizer) && tokenizer is not null;

    /// <summary>OpenAI's rule of thumb for English: about four characters a token, rounded up.</summary>
    public static int Estimate(string text) => (text.Length + 3) / 4;

    private static Tokenizer? TokenizerFor(string model) => ByModel.GetOrAdd(model, static name => EncodingOf(name) switch
    {
        "o200k" => O200k.Value,
        "cl100k" => Cl100k.Value,
        _ => null,
    });

    /// <summary>The encoding of a model by its name's family; null when unknown.</summary>
    internal static string? EncodingOf(string model)
    {
        var name = model.Trim().ToLowerInvariant();
        if (name.StartsWith("gpt-4o", StringComparison.Ordinal) || name.StartsWith("gpt-4.1", StringComparison.Ordinal) || name.StartsWith("gpt-4.5", StringComparison.Ordinal)
            || name.StartsWith("gpt-5", StringComparison.Ordinal) || name.StartsWith("chatgpt-4o", StringComparison.Ordinal)
            || (name.Length > 1 && name[0] == 'o' && char.IsAsciiDigit(name[1])))
        {
            return "o200k";
        }

        return name.StartsWith("gpt-4", StringComparison.Ordinal) || name.StartsWith("gpt-3.5", StringComparison.Ordinal) || name.StartsWith("gpt-35", StringComparison.Ordinal)
            || name.StartsWith("text-embedding-", StringComparison.Ordinal)
            ? "cl100k"
            : null;
    }
}
