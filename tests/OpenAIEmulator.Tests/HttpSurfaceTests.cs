using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>The wire format seen with a raw HttpClient: headers, SSE framing, error bodies.</summary>
public sealed partial class HttpSurfaceTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Successful_response_carries_request_id_rate_limit_and_processing_headers()
    {
        using var http = emulator.CreateClient(NewCaller("headers"));

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Matches("^req_[0-9a-f]{32}$", Header(response, "x-request-id"));
        Assert.Equal("500", Header(response, "x-ratelimit-limit-requests"));
        Assert.Equal("499", Header(response, "x-ratelimit-remaining-requests"));
        Assert.Equal("30000", Header(response, "x-ratelimit-limit-tokens"));
        Assert.True(int.Parse(Header(response, "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture) < 30000);
        Assert.Matches(DurationPattern(), Header(response, "x-ratelimit-reset-requests"));
        Assert.Matches(DurationPattern(), Header(response, "x-ratelimit-reset-tokens"));
        Assert.True(int.TryParse(Header(response, "openai-processing-ms"), out _));
        Assert.StartsWith("application/json", response.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Every_response_has_a_request_id_even_errors_and_operator_endpoints()
    {
        using var noKey = emulator.CreateClient(NewCaller("reqid"), apiKey: null);

        using var unauthorized = await noKey.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var unknownUrl = await emulator.Http.GetAsync("v1/nothing-here", Ct);
        using var stats = await emulator.Http.GetAsync("emulator/stats", Ct);

        Assert.Matches("^req_", Header(unauthorized, "x-request-id"));
        Assert.Matches("^req_", Header(unknownUrl, "x-request-id"));
        Assert.Matches("^req_", Header(stats, "x-request-id"));
        Assert.Equal(HttpStatusCode.NotFound, unknownUrl.StatusCode);
        Assert.Equal("invalid_request_error", (await ErrorOfAsync(unknownUrl))["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Stream_is_framed_as_OpenAI_sse_with_role_first_usage_chunk_and_done()
    {
        using var http = emulator.CreateClient(NewCaller("sse"));

        using var response = await http.PostAsync("v1/chat/completions", ChatBody("Frame it", stream: true, includeUsage: true), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.EndsWith("\n\n", body);
        var events = body[..^2].Split("\n\n");
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);

        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());

        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        var finishChunk = chunks[^2];
        Assert.Equal("stop", finishChunk["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Empty(finishChunk["choices"]![0]!["delta"]!.AsObject());

        var contentChunks = chunks[1..^2];
        Assert.All(contentChunks, c => Assert.Null(c["choices"]![0]!["finish_reason"]));
        Assert.Equal(contentChunks.Count, usageChunk["usage"]!["completion_tokens"]!.GetValue<int>());

        using var plain = await http.PostAsync("v1/chat/completions", ChatBody("Frame it"), Ct);
        var completion = JsonNode.Parse(await plain.Content.ReadAsStringAsync(Ct))!;
        var streamed = string.Concat(contentChunks.Select(c => c["choices"]![0]!["delta"]!["content"]!.GetValue<string>()));
        Assert.Equal(completion["choices"]![0]!["message"]!["content"]!.GetValue<string>(), streamed);
        Assert.Equal(completion["usage"]!.ToJsonString(), usageChunk["usage"]!.ToJsonString());
    }

    [Fact]
    public async Task Stream_without_include_usage_has_no_usage_chunk()
    {
        using var http = emulator.CreateClient(NewCaller("sse-nousage"));

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(stream: true), Ct);
        var events = (await response.Content.ReadAsStringAsync(Ct)).TrimEnd('\n').Split("\n\n");

        Assert.Equal("data: [DONE]", events[^1]);
        Assert.DoesNotContain(events, e => e.Contains("\"usage\"", StringComparison.Ordinal));
        Assert.Contains("\"finish_reason\":\"stop\"", events[^2]);
    }

    [Fact]
    public async Task Same_conversation_gets_the_same_reply_and_a_different_one_gets_a_different_reply()
    {
        using var http = emulator.CreateClient(NewCaller("determinism"));

        var first = await ContentOfAsync(http, ChatBody("Is this deterministic?"));
        var second = await ContentOfAsync(http, ChatBody("Is this deterministic?"));
        var other = await ContentOfAsync(http, ChatBody("Something else entirely"));
        var otherModel = await ContentOfAsync(http, ChatBody("Is this deterministic?", model: "gpt-4.1-mini"));

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        Assert.Contains("speaking as gpt-4.1-mini", otherModel);
        Assert.Contains("Is this deterministic?", first);
    }

    [Fact]
    public async Task Array_content_parts_and_developer_role_are_accepted()
    {
        using var http = emulator.CreateClient(NewCaller("parts"));
        const string json = """
            {"model":"gpt-4o","messages":[
              {"role":"developer","content":"Be terse."},
              {"role":"user","content":[{"type":"text","text":"Hello "},{"type":"text","text":"parts"}]}]}
            """;

        var content = await ContentOfAsync(http, Json(json));

        Assert.Contains("Hello parts", content);
        Assert.Contains("including instructions", content);
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o"}""", "messages")]
    [InlineData("""{"messages":[{"role":"user","content":"Hi"}]}""", "model")]
    [InlineData("""{"model":"gpt-4o","messages":[]}""", "messages")]
    [InlineData("""{"model":"gpt-4o","messages":"Hi"}""", "messages")]
    [InlineData("""{"model":"gpt-4o","messages":[{"role":"robot","content":"Hi"}]}""", "messages[0].role")]
    [InlineData("""{"model":"gpt-4o","messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url"}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"model":"gpt-4o","n":2,"messages":[{"role":"user","content":"Hi"}]}""", "n")]
    [InlineData("""{"model":"gpt-4o","temperature":3,"messages":[{"role":"user","content":"Hi"}]}""", "temperature")]
    [InlineData("""{"model":"gpt-4o","max_tokens":0,"messages":[{"role":"user","content":"Hi"}]}""", "max_tokens")]
    [InlineData("""{"model":"gpt-4o","max_completion_tokens":"ten","messages":[{"role":"user","content":"Hi"}]}""", "max_completion_tokens")]
    [InlineData("""{"model":"gpt-4o","stream":"yes","messages":[{"role":"user","content":"Hi"}]}""", "stream")]
    [InlineData("""{"model":"gpt-4o","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}""", "stream_options")]
    public async Task Invalid_request_gets_400_naming_the_parameter(string json, string param)
    {
        var caller = NewCaller("invalid");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/chat/completions", Json(json), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Contains(param.Split('[')[0], error["message"]!.GetValue<string>());
        Assert.Equal(["invalid_request"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Malformed_json_gets_400_in_OpenAI_error_shape()
    {
        using var http = emulator.CreateClient(NewCaller("badjson"));

        using var response = await http.PostAsync("v1/chat/completions", Json("{\"model\": \"gpt-4o\","), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Contains("JSON", error["message"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.True(error.AsObject().ContainsKey("param"));
        Assert.True(error.AsObject().ContainsKey("code"));
    }

    [Fact]
    public async Task Missing_or_wrong_bearer_key_gets_401_invalid_api_key()
    {
        using var none = emulator.CreateClient(NewCaller("nokey"), apiKey: null);
        using var wrong = emulator.CreateClient(NewCaller("wrongkey"), apiKey: "sk-secret-never-echoed");

        using var missing = await none.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var incorrect = await wrong.GetAsync("v1/models", Ct);

        foreach (var response in new[] { missing, incorrect })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync(Ct);
            Assert.Equal("invalid_api_key", ErrorOf(body)["code"]!.GetValue<string>());
            Assert.Equal("invalid_request_error", ErrorOf(body)["type"]!.GetValue<string>());
            Assert.DoesNotContain("sk-secret-never-echoed", body);
        }
    }

    [Fact]
    public async Task Models_endpoints_list_and_find_models_and_404_unknown_ones()
    {
        var list = await emulator.GetJsonAsync("v1/models");
        using var known = await emulator.Http.GetAsync("v1/models/gpt-4.1-mini", Ct);
        using var unknown = await emulator.Http.GetAsync("v1/models/gpt-2", Ct);

        Assert.Equal("list", list["object"]!.GetValue<string>());
        Assert.Equal(["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"], list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        Assert.All(list["data"]!.AsArray(), m => Assert.Equal("model", m!["object"]!.GetValue<string>()));
        Assert.Equal("gpt-4.1-mini", JsonNode.Parse(await known.Content.ReadAsStringAsync(Ct))!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("model_not_found", (await ErrorOfAsync(unknown))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Caller_is_read_from_w3c_baggage_when_there_is_no_caller_header()
    {
        var caller = NewCaller("baggage");
        await emulator.ScriptAsync(caller, "502");
        using var http = emulator.CreateClient(caller: null);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ChatBody() };
        request.Headers.Add("baggage", $"other=1, emulator.caller={Uri.EscapeDataString(caller)};prop=x");

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var (total, byOutcome) = await emulator.CallerStatsAsync(caller);
        Assert.Equal(1, total);
        Assert.Equal(new Dictionary<string, int> { ["bad_gateway"] = 1 }, byOutcome);
    }

    private static async Task<string> ContentOfAsync(HttpClient http, HttpContent body)
    {
        using var response = await http.PostAsync("v1/chat/completions", body, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
    }

    // OpenAI's reset format: 20ms, 1s, 1.5s, 6m0s, 1h2m3s.
    [GeneratedRegex(@"^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$")]
    private static partial Regex DurationPattern();
}
