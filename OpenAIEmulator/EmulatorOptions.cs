using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator;

/// <summary>Configuration section <c>Emulator</c>. Defaults live here; README documents them.</summary>
public sealed class EmulatorOptions
{
    public const string SectionName = "Emulator";

    public static IReadOnlyList<string> DefaultModels { get; } = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"];

    public static IReadOnlyList<string> DefaultEmbeddingModels { get; } = ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"];

    /// <summary>
    /// When set, every /v1 request needs <c>Authorization: Bearer {ApiKey}</c>, and every Azure request
    /// (<c>/openai/...</c>) the key as <c>api-key: {ApiKey}</c> or as that bearer token.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Bearer tokens Azure paths accept besides the key, as Entra ID tokens: a test's TokenCredential hands one
    /// out, and any other token gets Azure's 401. Setting any makes Azure paths require a credential.
    /// </summary>
    public List<string> AcceptedBearerTokens { get; set; } = [];

    /// <summary>Models served; empty means <see cref="DefaultModels"/> (the binder appends to lists, so the default is applied after binding).</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>Models that answer <c>embeddings</c>; empty means <see cref="DefaultEmbeddingModels"/> (applied after binding, as <see cref="Models"/>).</summary>
    public List<string> EmbeddingModels { get; set; } = [];

    /// <summary>Streaming pace, as a fast hosted model; 0 sends every token at once.</summary>
    public double TokensPerSecond { get; set; } = 40;

    /// <summary>Time to first token, roughly what a short prompt costs upstream.</summary>
    public int FirstTokenDelayMs { get; set; } = 150;

    /// <summary>Seeds the chaos dice so a probabilistic run repeats exactly.</summary>
    public int? Seed { get; set; }

    /// <summary>How many recent requests <c>/emulator/requests</c> keeps.</summary>
    public int RequestLogCapacity { get; set; } = 1000;

    /// <summary>The chaos profile at start-up (<c>DELETE /emulator/chaos</c> returns to a calm one).</summary>
    public ChaosProfile Chaos { get; set; } = new();
}
