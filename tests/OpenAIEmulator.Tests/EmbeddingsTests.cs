using System.Buffers.Binary;
using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using OpenAI.Embeddings;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary><c>/v1/embeddings</c>: OpenAI's wire format, deterministic vectors, and the same faults as chat.</summary>
public sealed class EmbeddingsTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private const string Model = "text-embedding-3-small";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sdk_gets_one_unit_vector_per_input_with_usage_and_model()
    {
        var client = emulator.CreateOpenAIClient(NewCaller("emb-sdk")).GetEmbeddingClient(Model);

        OpenAIEmbeddingCollection embeddings = await client.GenerateEmbeddingsAsync(["Why add jitter to retries?", "Circuit breakers"], cancellationToken: Ct);

        Assert.Equal([0, 1], embeddings.Select(e => e.Index));
        Assert.All(embeddings, e => Assert.Equal(1536, e.ToFloats().Length));
        Assert.All(embeddings, e => Assert.Equal(1.0, Length(e.ToFloats().Span), 4));
        Assert.Equal(Model, embeddings.Model);
        Assert.Equal(8, embeddings.Usage.InputTokenCount);
        Assert.Equal(embeddings.Usage.InputTokenCount, embeddings.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Same_text_gets_the_same_vector_and_other_text_or_model_a_different_one()
    {
        var sdk = emulator.CreateOpenAIClient(NewCaller("emb-determinism"));
        var small = sdk.GetEmbeddingClient(Model);

        var first = (await small.GenerateEmbeddingAsync("retry budget", cancellationToken: Ct)).Value.ToFloats().ToArray();
        var again = (await small.GenerateEmbeddingAsync("retry budget", cancellationToken: Ct)).Value.ToFloats().ToArray();
        var other = (await small.GenerateEmbeddingAsync("retry storm", cancellationToken: Ct)).Value.ToFloats().ToArray();
        var large = (await sdk.GetEmbeddingClient("text-embedding-3-large").GenerateEmbeddingAsync("retry budget", cancellationToken: Ct)).Value.ToFloats().ToArray();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(3072, large.Length);
        Assert.NotEqual(first, large[..1536]);
    }

    [Fact]
    public async Task Dimensions_shorten_the_vector_to_its_start_scaled_back_to_unit_length()
    {
        var client = emulator.CreateOpenAIClient(NewCaller("emb-dimensions")).GetEmbeddingClient(Model);

        var full = (await client.GenerateEmbeddingAsync("shorten me", cancellationToken: Ct)).Value.ToFloats().ToArray();
        var shortened = (await client.GenerateEmbeddingAsync("shorten me", new EmbeddingGenerationOptions { Dimensions = 256 }, Ct)).Value.ToFloats().ToArray();

        Assert.Equal(256, shortened.Length);
        Assert.Equal(1.0, Length(shortened), 4);
        var scale = 1 / Length(full.AsSpan(0, 256));
        Assert.All(Enumerable.Range(0, 256), i => Assert.Equal(full[i] * scale, shortened[i], 4));
    }

    [Fact]
    public async Task Float_and_base64_encodings_carry_the_same_vector_in_OpenAI_shape()
    {
        using var http = emulator.CreateClient(NewCaller("emb-wire"));

        var asFloats = await PostAsync(http, """{"model":"text-embedding-3-small","input":"wire format"}""");
        var asBase64 = await PostAsync(http, """{"model":"text-embedding-3-small","input":["wire format"],"encoding_format":"base64"}""");

        Assert.Equal("list", asFloats["object"]!.GetValue<string>());
        Assert.Equal(Model, asFloats["model"]!.GetValue<string>());
        var item = asFloats["data"]![0]!;
        Assert.Equal("embedding", item["object"]!.GetValue<string>());
        Assert.Equal(0, item["index"]!.GetValue<int>());
        var floats = item["embedding"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
        var bytes = Convert.FromBase64String(asBase64["data"]![0]!["embedding"]!.GetValue<string>());
        var decoded = Enumerable.Range(0, bytes.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4))).ToArray();
        Assert.Equal(floats, decoded);
        Assert.Equal(asFloats["usage"]!.ToJsonString(), asBase64["usage"]!.ToJsonString());
        Assert.Equal(["prompt_tokens", "total_tokens"], asFloats["usage"]!.AsObject().Select(p => p.Key));
    }

    [Fact]
    public async Task Input_tokens_are_counted_as_chat_counts_a_message_content()
    {
        const string text = "Count these words, and the comma too.";
        using var http = emulator.CreateClient(NewCaller("emb-tokens"));

        using var chat = await http.PostAsync("v1/chat/completions", ChatBody(text), Ct);
        var chatPrompt = JsonNode.Parse(await chat.Content.ReadAsStringAsync(Ct))!["usage"]!["prompt_tokens"]!.GetValue<int>();
        var embedded = await PostAsync(http, $$"""{"model":"text-embedding-3-small","input":["{{text}}","{{text}}"]}""");

        // A chat prompt of one message is its content plus 3 framing tokens plus 3 priming the reply.
        Assert.Equal(2 * (chatPrompt - 6), embedded["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Scripted_outcomes_for_a_caller_apply_to_embeddings_and_are_logged_and_counted()
    {
        var caller = NewCaller("emb-script");
        await emulator.ScriptAsync(caller, "429:retry-after-ms=150", "503", "ok");
        var client = emulator.CreateOpenAIClient(caller).GetEmbeddingClient(Model);

        var limited = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateEmbeddingAsync("a", cancellationToken: Ct));
        var unavailable = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateEmbeddingAsync("a", cancellationToken: Ct));
        var embedding = await client.GenerateEmbeddingAsync("a", cancellationToken: Ct);

        Assert.Equal(429, limited.Status);
        Assert.Equal("150", limited.GetRawResponse()!.Headers.TryGetValue("retry-after-ms", out var wait) ? wait : null);
        Assert.Equal("rate_limit_exceeded", ErrorOf(limited.GetRawResponse()!.Content.ToString())["code"]!.GetValue<string>());
        Assert.Equal(503, unavailable.Status);
        Assert.Equal(1536, embedding.Value.ToFloats().Length);
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal(["rate_limit", "service_unavailable", "ok"], log.Select(r => r!["outcome"]!.GetValue<string>()));
        Assert.All(log, r => Assert.Equal(Model, r!["model"]!.GetValue<string>()));
        Assert.Equal(new Dictionary<string, int> { ["ok"] = 1, ["rate_limit"] = 1, ["service_unavailable"] = 1 }, (await emulator.CallerStatsAsync(caller)).ByOutcome);
    }

    [Theory]
    [InlineData("reset", "reset")]
    [InlineData("disconnect", "reset")]
    [InlineData("hang:ms=100", "hang")]
    public async Task Connection_faults_apply_to_embeddings(string outcome, string logged)
    {
        var caller = NewCaller("emb-connection");
        await emulator.ScriptAsync(caller, outcome);
        using var http = emulator.CreateClient(caller);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync("v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}"""), Ct));

        Assert.Equal([logged], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Slow_first_token_delays_an_embeddings_response()
    {
        var caller = NewCaller("emb-slow");
        await emulator.ScriptAsync(caller, "slow-first-token:ms=300");
        using var http = emulator.CreateClient(caller);
        var clock = Stopwatch.StartNew();

        var body = await PostAsync(http, """{"model":"text-embedding-3-small","input":"slow"}""");

        Assert.True(clock.ElapsedMilliseconds >= 290, $"answered after {clock.ElapsedMilliseconds} ms");
        Assert.Equal("list", body["object"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"input":"x"}""", "model")]
    [InlineData("""{"model":"text-embedding-3-small"}""", "input")]
    [InlineData("""{"model":"text-embedding-3-small","input":[]}""", "input")]
    [InlineData("""{"model":"text-embedding-3-small","input":""}""", "input")]
    [InlineData("""{"model":"text-embedding-3-small","input":{"text":"x"}}""", "input")]
    [InlineData("""{"model":"text-embedding-3-small","input":["x",""]}""", "input[1]")]
    [InlineData("""{"model":"text-embedding-3-small","input":[1,2,3]}""", "input[0]")]
    [InlineData("""{"model":"text-embedding-3-small","input":"x","encoding_format":"int8"}""", "encoding_format")]
    [InlineData("""{"model":"text-embedding-3-small","input":"x","dimensions":0}""", "dimensions")]
    [InlineData("""{"model":"text-embedding-3-small","input":"x","dimensions":1537}""", "dimensions")]
    public async Task Invalid_embeddings_request_gets_400_naming_the_parameter(string json, string param)
    {
        var caller = NewCaller("emb-invalid");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/embeddings", Json(json), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Equal(["invalid_request"], await emulator.OutcomesAsync(caller));
    }

    [Theory]
    [InlineData("gpt-4o")]
    [InlineData("text-embedding-9")]
    public async Task A_model_that_does_not_embed_gets_404_model_not_found(string model)
    {
        using var http = emulator.CreateClient(NewCaller("emb-404"));

        using var response = await http.PostAsync("v1/embeddings", Json($$"""{"model":"{{model}}","input":"x"}"""), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("model_not_found", (await ErrorOfAsync(response))["code"]!.GetValue<string>());
    }

    private static async Task<JsonNode> PostAsync(HttpClient http, string json)
    {
        using var response = await http.PostAsync("v1/embeddings", Json(json), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!;
    }

    private static double Length(ReadOnlySpan<float> vector)
    {
        var sum = 0.0;
        foreach (var value in vector)
        {
            sum += value * value;
        }

        return Math.Sqrt(sum);
    }
}
