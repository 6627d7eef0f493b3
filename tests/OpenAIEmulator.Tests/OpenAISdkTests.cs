using System.ClientModel;
using System.Text;
using OpenAI.Chat;
using OpenAI.Models;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>The official OpenAI SDK, with its retries off, cannot tell the emulator from OpenAI.</summary>
public sealed class OpenAISdkTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sdk_plain_completion_returns_a_reply_about_the_question_with_usage()
    {
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-plain"));

        ChatCompletion completion = await client.CompleteChatAsync(
            [new SystemChatMessage("Be brief."), new UserChatMessage("What is a circuit breaker?")], cancellationToken: Ct);

        var text = completion.Content[0].Text;
        Assert.Contains("What is a circuit breaker?", text);
        Assert.Contains("AspireRetry emulator speaking as gpt-4o", text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal("gpt-4o", completion.Model);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(completion.Usage.OutputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Sdk_streaming_adds_up_to_the_plain_reply_and_ends_with_usage()
    {
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-stream"));
        ChatMessage[] messages = [new UserChatMessage("Does streaming add up?")];
        ChatCompletion plain = await client.CompleteChatAsync(messages, cancellationToken: Ct);

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finishReason = null;
        var updates = 0;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, cancellationToken: Ct))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
            finishReason ??= update.FinishReason;
        }

        Assert.Equal(plain.Content[0].Text, text.ToString());
        Assert.Equal(ChatFinishReason.Stop, finishReason);
        Assert.NotNull(usage);
        Assert.Equal(plain.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(plain.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.True(updates > usage.OutputTokenCount, "one update per token, plus role, finish and usage");
    }

    [Fact]
    public async Task Sdk_max_output_tokens_truncates_with_finish_reason_length()
    {
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-length"));

        ChatCompletion completion = await client.CompleteChatAsync(
            [new UserChatMessage("Tell me everything.")], new ChatCompletionOptions { MaxOutputTokenCount = 4 }, Ct);

        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(4, completion.Usage.OutputTokenCount);
        Assert.Equal("You asked: \"", completion.Content[0].Text);
    }

    [Fact]
    public async Task Sdk_lists_the_configured_models()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential(EmulatorFixture.ApiKey), emulator.SdkOptions(EmulatorFixture.NewCaller("sdk-models")));

        OpenAIModelCollection list = await models.GetModelsAsync(Ct);
        OpenAIModel one = await models.GetModelAsync("gpt-4o-mini", Ct);

        Assert.Equal(["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"], list.Select(m => m.Id));
        Assert.All(list, m => Assert.Equal("system", m.OwnedBy));
        Assert.Equal("gpt-4o-mini", one.Id);
    }

    [Theory]
    [InlineData("429", 429, "rate_limit_exceeded", "requests")]
    [InlineData("quota", 429, "insufficient_quota", "insufficient_quota")]
    [InlineData("500", 500, null, "server_error")]
    [InlineData("502", 502, null, "server_error")]
    [InlineData("503", 503, null, "server_error")]
    [InlineData("504", 504, null, "server_error")]
    public async Task Sdk_surfaces_scripted_errors_as_ClientResultException_with_OpenAI_body(string outcome, int status, string? code, string type)
    {
        var caller = EmulatorFixture.NewCaller("sdk-error");
        await emulator.ScriptAsync(caller, outcome);
        var client = emulator.CreateChatClient(caller);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));

        Assert.Equal(status, error.Status);
        var body = EmulatorFixture.ErrorOf(error.GetRawResponse()!.Content.ToString());
        Assert.Equal(code, body["code"]?.GetValue<string>());
        Assert.Equal(type, body["type"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(body["message"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Sdk_gets_400_naming_the_invalid_parameter()
    {
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-400"));

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.CompleteChatAsync([new UserChatMessage("Hi")], new ChatCompletionOptions { Temperature = 5f }, Ct));

        Assert.Equal(400, error.Status);
        var body = EmulatorFixture.ErrorOf(error.GetRawResponse()!.Content.ToString());
        Assert.Equal("invalid_request_error", body["type"]!.GetValue<string>());
        Assert.Equal("temperature", body["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sdk_gets_401_invalid_api_key_without_the_key_echoed()
    {
        const string wrongKey = "sk-wrong-key-do-not-echo";
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-401"), apiKey: wrongKey);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));

        Assert.Equal(401, error.Status);
        var raw = error.GetRawResponse()!.Content.ToString();
        Assert.Equal("invalid_api_key", EmulatorFixture.ErrorOf(raw)["code"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", EmulatorFixture.ErrorOf(raw)["type"]!.GetValue<string>());
        Assert.DoesNotContain(wrongKey, raw);
    }

    [Fact]
    public async Task Sdk_gets_404_model_not_found_for_an_unknown_model()
    {
        var client = emulator.CreateChatClient(EmulatorFixture.NewCaller("sdk-404"), model: "gpt-nonexistent");

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));

        Assert.Equal(404, error.Status);
        Assert.Equal("model_not_found", EmulatorFixture.ErrorOf(error.GetRawResponse()!.Content.ToString())["code"]!.GetValue<string>());
    }
}
