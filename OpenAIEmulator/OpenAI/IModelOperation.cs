using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// One OpenAI operation (chat completions, embeddings, responses): how its body is read and which
/// models serve it. Everything around it (key, model check, chaos, buckets, stats, request log,
/// faults) is <see cref="ModelRequestHandler"/>'s, the same for every operation.
/// </summary>
public interface IModelOperation
{
    /// <summary>The name in the request log and the logs, e.g. <c>chat.completions</c>.</summary>
    string Name { get; }

    /// <summary>The models that serve this operation.</summary>
    IReadOnlyList<string> ModelsIn(EmulatorOptions options);

    /// <param name="deployment">An Azure deployment path's deployment: the model, whatever the body says.</param>
    Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken);
}

/// <summary>A request read and ready to answer, unless the decision made for it is a fault.</summary>
public interface IModelCall
{
    string Model { get; }

    bool Stream { get; }

    /// <summary>What the token bucket charges: prompt and completion tokens for a generation, input tokens for embeddings.</summary>
    int Tokens { get; }

    /// <summary>Writes the answer, paced (and for a stream, cut) as the decision says.</summary>
    Task WriteAsync(HttpContext context, ChaosDecision decision, CancellationToken cancellationToken);
}
