using System.Buffers.Binary;
using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// <c>embeddings</c>: one deterministic vector per input. It costs the buckets its input tokens, counted
/// as chat counts a message's content, and is answered after the first-token delay (nothing streams).
/// </summary>
public sealed class EmbeddingsOperation(TimeProvider time) : IModelOperation
{
    public string Name => "embeddings";

    public IReadOnlyList<string> ModelsIn(EmulatorOptions options) => options.EmbeddingModels;

    public async Task<(IModelCall? Call, OpenAIError? Error)> ParseAsync(Stream body, string? deployment, CancellationToken cancellationToken)
    {
        var (request, error) = await EmbeddingsRequestParser.ParseAsync(body, deployment, cancellationToken);
        return request is null ? (null, error) : (new EmbeddingsCall(request, request.Inputs.Sum(Tokenizer.Count), time), null);
    }

    private sealed record EmbeddingsCall(EmbeddingsRequest Request, int InputTokens, TimeProvider Time) : IModelCall
    {
        public string Model => Request.Model;

        public bool Stream => false;

        public int Tokens => InputTokens;

        public async Task WriteAsync(HttpContext context, ChaosDecision decision, CancellationToken cancellationToken)
        {
            await Time.DelayAsync(decision.Pacing.PlainDelay(0), cancellationToken);

            var data = Request.Inputs
                .Select((input, index) => new EmbeddingData("embedding", index, Encode(EmbeddingVectors.For(Request.Model, input, Request.Dimensions))))
                .ToList();
            context.Response.AddRateLimitHeaders(decision);
            await context.Response.WriteAsJsonAsync(
                new EmbeddingList("list", data, Request.Model, new EmbeddingUsage(InputTokens, InputTokens)), OpenAIJson.Options, cancellationToken);
        }

        private object Encode(float[] vector)
        {
            if (!Request.Base64)
            {
                return vector;
            }

            // OpenAI's base64 is the raw float32 values, little-endian, whatever the server's byte order.
            var bytes = new byte[vector.Length * sizeof(float)];
            for (var i = 0; i < vector.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
            }

            return Convert.ToBase64String(bytes);
        }
    }
}
