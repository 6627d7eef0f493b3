using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using OpenAI.Responses;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

// OPENAI001: the Responses client is experimental in OpenAI 2.15; these tests pin the wire format it reads.
#pragma warning disable OPENAI001

/// <summary><c>/v1/responses</c> as the OpenAI SDK's ResponsesClient speaks it, plain and streamed, with chat's faults.</summary>
public sealed class ResponsesTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static readonly string[] OpeningEvents = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
    private static readonly string[] ClosingEvents = ["response.output_text.done", "response.content_part.done", "response.output_item.done"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sdk_response_is_the_chat_reply_to_the_same_question_with_usage()
    {
        var caller = NewCaller("resp-sdk");
        var responses = emulator.CreateOpenAIClient(caller).GetResponsesClient();
        ChatCompletion chat = await emulator.CreateChatClient(caller).CompleteChatAsync([new UserChatMessage("What is a circuit breaker?")], cancellationToken: Ct);

        ResponseResult response = await responses.CreateResponseAsync("gpt-4o", "What is a circuit breaker?", cancellationToken: Ct);

        Assert.StartsWith("resp_", response.Id);
        Assert.Equal("response", response.Object);
        Assert.Equal(ResponseStatus.Completed, response.Status);
        Assert.Equal("gpt-4o", response.Model);
        Assert.Equal(chat.Content[0].Text, response.GetOutputText());
        var message = Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(response.OutputItems));
        Assert.Equal(MessageRole.Assistant, message.Role);
        Assert.Equal(chat.Usage.InputTokenCount, response.Usage.InputTokenCount);
        Assert.Equal(chat.Usage.OutputTokenCount, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Sdk_stream_has_numbered_events_whose_deltas_add_up_to_the_plain_response()
    {
        var responses = emulator.CreateOpenAIClient(NewCaller("resp-stream")).GetResponsesClient();
        ResponseResult plain = await responses.CreateResponseAsync("gpt-4o", "Does streaming add up?", cancellationToken: Ct);

        var stream = responses.CreateResponseStreamingAsync("gpt-4o", "Does streaming add up?", cancellationToken: Ct);
        var updates = new List<StreamingResponseUpdate>();
        await foreach (var update in stream)
        {
            updates.Add(update);
        }

        Assert.Equal(Enumerable.Range(0, updates.Count), updates.Select(u => u.SequenceNumber));
        Assert.IsType<StreamingResponseCreatedUpdate>(updates[0]);
        var text = string.Concat(updates.OfType<StreamingResponseOutputTextDeltaUpdate>().Select(u => u.Delta));
        Assert.Equal(plain.GetOutputText(), text);
        var completed = Assert.IsType<StreamingResponseCompletedUpdate>(updates[^1]);
        Assert.Equal(ResponseStatus.Completed, completed.Response.Status);
        Assert.Equal(plain.Usage.OutputTokenCount, completed.Response.Usage.OutputTokenCount);
        Assert.Equal(text, completed.Response.GetOutputText());
    }

    [Fact]
    public async Task Stream_is_framed_as_OpenAI_documents_it_with_named_events_in_order()
    {
        using var http = emulator.CreateClient(NewCaller("resp-sse"));

        using var response = await http.PostAsync("v1/responses", Json("""{"model":"gpt-4o","input":"Frame it","stream":true}"""), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.EndsWith("\n\n", body);
        var events = body[..^2].Split("\n\n").Select(e => e.Split('\n')).ToList();
        Assert.All(events, e => Assert.Equal(2, e.Length));
        var names = events.Select(e => e[0]["event: ".Length..]).ToList();
        var data = events.Select(e => JsonNode.Parse(e[1]["data: ".Length..])!).ToList();
        Assert.Equal(names, data.Select(d => d["type"]!.GetValue<string>()));
        Assert.Equal(Enumerable.Range(0, data.Count), data.Select(d => d["sequence_number"]!.GetValue<int>()));
        Assert.Equal(OpeningEvents, names[..4]);
        Assert.Equal([.. ClosingEvents, "response.completed"], names[^4..]);
        Assert.All(names[4..^4], n => Assert.Equal("response.output_text.delta", n));
        Assert.Equal("in_progress", data[0]["response"]!["status"]!.GetValue<string>());
        var itemId = data[2]["item"]!["id"]!.GetValue<string>();
        Assert.All(data[3..^2], d => Assert.Equal(itemId, d["item_id"]!.GetValue<string>()));
        var text = string.Concat(data[4..^4].Select(d => d["delta"]!.GetValue<string>()));
        Assert.Equal(text, data[^4]["text"]!.GetValue<string>());
        var part = data[^3]["part"]!;
        Assert.Equal("output_text", part["type"]!.GetValue<string>());
        Assert.Empty(part["annotations"]!.AsArray());
        Assert.Equal(data[0]["response"]!["id"]!.GetValue<string>(), data[^1]["response"]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Plain_response_has_OpenAI_shape()
    {
        using var http = emulator.CreateClient(NewCaller("resp-shape"));

        using var response = await http.PostAsync("v1/responses", Json("""{"model":"gpt-4o-mini","input":"Shape?"}"""), Ct);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("response", body["object"]!.GetValue<string>());
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        Assert.Equal("gpt-4o-mini", body["model"]!.GetValue<string>());
        var item = Assert.Single(body["output"]!.AsArray())!;
        Assert.Equal(("message", "assistant", "completed"), (item["type"]!.GetValue<string>(), item["role"]!.GetValue<string>(), item["status"]!.GetValue<string>()));
        var content = Assert.Single(item["content"]!.AsArray())!;
        Assert.Equal("output_text", content["type"]!.GetValue<string>());
        Assert.Contains("Shape?", content["text"]!.GetValue<string>());
        Assert.Empty(content["annotations"]!.AsArray());
        var usage = body["usage"]!;
        Assert.Equal(usage["input_tokens"]!.GetValue<int>() + usage["output_tokens"]!.GetValue<int>(), usage["total_tokens"]!.GetValue<int>());
        Assert.True(int.Parse(Header(response, "x-ratelimit-remaining-tokens"), System.Globalization.CultureInfo.InvariantCulture) < 30000);
    }

    [Fact]
    public async Task Max_output_tokens_cuts_the_reply_and_the_response_is_incomplete()
    {
        var responses = emulator.CreateOpenAIClient(NewCaller("resp-length")).GetResponsesClient();
        var options = new CreateResponseOptions("gpt-4o", [ResponseItem.CreateUserMessageItem("Tell me everything, at length please.")]) { MaxOutputTokenCount = 16 };

        ResponseResult response = await responses.CreateResponseAsync(options, Ct);
        options.StreamingEnabled = true;
        var stream = responses.CreateResponseStreamingAsync(options, Ct);
        var updates = new List<StreamingResponseUpdate>();
        await foreach (var update in stream)
        {
            updates.Add(update);
        }

        Assert.Equal(ResponseStatus.Incomplete, response.Status);
        Assert.Equal(16, response.Usage.OutputTokenCount);
        Assert.Equal(ResponseIncompleteStatusReason.MaxOutputTokens, response.IncompleteStatusDetails.Reason);
        Assert.Equal(ResponseStatus.Incomplete, Assert.IsType<StreamingResponseIncompleteUpdate>(updates[^1]).Response.Status);
    }

    [Fact]
    public async Task Instructions_and_message_items_make_the_conversation()
    {
        using var http = emulator.CreateClient(NewCaller("resp-items"));
        const string json = """
            {"model":"gpt-4o","instructions":"Be terse.","input":[
              {"role":"user","content":"First question"},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"First answer"}]},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"Hello "},{"type":"input_text","text":"items"}]}]}
            """;

        using var response = await http.PostAsync("v1/responses", Json(json), Ct);
        var text = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>();

        Assert.Contains("Hello items", text);
        Assert.Contains("The conversation has 4 messages, including instructions", text);
    }

    [Fact]
    public async Task Scripted_faults_for_a_caller_answer_responses_and_are_logged()
    {
        var caller = NewCaller("resp-script");
        await emulator.ScriptAsync(caller, "429:retry-after-ms=150", "quota", "ok");
        var responses = emulator.CreateOpenAIClient(caller).GetResponsesClient();

        var limited = await Assert.ThrowsAsync<ClientResultException>(() => responses.CreateResponseAsync("gpt-4o", "Hi", cancellationToken: Ct));
        var quota = await Assert.ThrowsAsync<ClientResultException>(() => responses.CreateResponseAsync("gpt-4o", "Hi", cancellationToken: Ct));
        ResponseResult ok = await responses.CreateResponseAsync("gpt-4o", "Hi", cancellationToken: Ct);

        Assert.Equal(429, limited.Status);
        Assert.Equal("rate_limit_exceeded", ErrorOf(limited.GetRawResponse()!.Content.ToString())["code"]!.GetValue<string>());
        Assert.Equal("insufficient_quota", ErrorOf(quota.GetRawResponse()!.Content.ToString())["code"]!.GetValue<string>());
        Assert.Equal(ResponseStatus.Completed, ok.Status);
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal(["rate_limit", "insufficient_quota", "ok"], log.Select(r => r!["outcome"]!.GetValue<string>()));
        Assert.Equal([150L, null, null], log.Select(r => r!["retryAfterMs"]?.GetValue<long>()));
    }

    [Fact]
    public async Task Disconnect_cuts_the_stream_after_the_scripted_events_before_it_completes()
    {
        var caller = NewCaller("resp-cut");
        await emulator.ScriptAsync(caller, "disconnect:after=6");
        using var http = emulator.CreateClient(caller);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Json("""{"model":"gpt-4o","input":"Cut me","stream":true}""") };

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        var names = new List<string>();
        var failure = await Record.ExceptionAsync(async () =>
        {
            while (await reader.ReadLineAsync(Ct) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    names.Add(line["event: ".Length..]);
                }
            }
        });

        Assert.IsAssignableFrom<IOException>(failure);
        Assert.Equal([.. OpeningEvents, "response.output_text.delta", "response.output_text.delta"], names);
        Assert.Equal(["mid_stream_disconnect"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Sdk_stream_cut_midway_fails_the_enumeration_after_some_text()
    {
        var caller = NewCaller("resp-sdk-cut");
        await emulator.ScriptAsync(caller, "disconnect:after=7");
        var responses = emulator.CreateOpenAIClient(caller).GetResponsesClient();

        var stream = responses.CreateResponseStreamingAsync("gpt-4o", "Cut me", cancellationToken: Ct);
        var text = new StringBuilder();
        var failure = await Record.ExceptionAsync(async () =>
        {
            await foreach (var update in stream)
            {
                text.Append((update as StreamingResponseOutputTextDeltaUpdate)?.Delta);
            }
        });

        Assert.NotNull(failure);
        Assert.Equal("You asked:", text.ToString());
    }

    [Fact]
    public async Task Slow_first_token_and_slow_stream_pace_a_responses_stream()
    {
        var caller = NewCaller("resp-slow");
        await emulator.ScriptAsync(caller, "slow-first-token:ms=300", "slow-stream:tps=50");
        using var http = emulator.CreateClient(caller);

        var clock = Stopwatch.StartNew();
        using var slowFirst = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Json("""{"model":"gpt-4o","input":"Slow","stream":true}""") };
        using var first = await http.SendAsync(slowFirst, HttpCompletionOption.ResponseHeadersRead, Ct);
        var headersAfter = clock.ElapsedMilliseconds;
        await first.Content.ReadAsStringAsync(Ct);

        clock.Restart();
        using var paced = await http.PostAsync("v1/responses", Json("""{"model":"gpt-4o","input":"Slow","stream":true,"max_output_tokens":16}"""), Ct);
        var body = await paced.Content.ReadAsStringAsync(Ct);

        Assert.True(headersAfter >= 290, $"headers after {headersAfter} ms");

        // 16 tokens at 50 per second: 15 gaps of 20 ms after the first token.
        Assert.True(clock.ElapsedMilliseconds >= 290, $"streamed in {clock.ElapsedMilliseconds} ms");
        Assert.Contains("event: response.incomplete", body);
        Assert.Equal(["slow_first_token", "slow_stream"], await emulator.OutcomesAsync(caller));
    }

    [Theory]
    [InlineData("""{"input":"x"}""", "model")]
    [InlineData("""{"model":"gpt-4o"}""", "input")]
    [InlineData("""{"model":"gpt-4o","input":[]}""", "input")]
    [InlineData("""{"model":"gpt-4o","input":42}""", "input")]
    [InlineData("""{"model":"gpt-4o","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}""", "input[0].type")]
    [InlineData("""{"model":"gpt-4o","input":[{"role":"robot","content":"x"}]}""", "input[0].role")]
    [InlineData("""{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}""", "input[0].content[0].type")]
    [InlineData("""{"model":"gpt-4o","input":"x","max_output_tokens":15}""", "max_output_tokens")]
    [InlineData("""{"model":"gpt-4o","input":"x","instructions":["x"]}""", "instructions")]
    [InlineData("""{"model":"gpt-4o","input":"x","stream":"yes"}""", "stream")]
    public async Task Invalid_responses_request_gets_400_naming_the_parameter(string json, string param)
    {
        var caller = NewCaller("resp-invalid");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/responses", Json(json), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ErrorOfAsync(response))["param"]!.GetValue<string>());
        Assert.Equal(["invalid_request"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Unknown_model_gets_404_model_not_found()
    {
        var responses = emulator.CreateOpenAIClient(NewCaller("resp-404")).GetResponsesClient();

        var error = await Assert.ThrowsAsync<ClientResultException>(() => responses.CreateResponseAsync("text-embedding-3-small", "Hi", cancellationToken: Ct));

        Assert.Equal(404, error.Status);
        Assert.Equal("model_not_found", ErrorOf(error.GetRawResponse()!.Content.ToString())["code"]!.GetValue<string>());
    }
}
