#pragma warning disable OPENAI001 // The Responses API is experimental in the OpenAI SDK; these tests pin that it goes through the layer.

using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;
using OpenAI.Responses;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The Responses API through the layer: on the injected <see cref="OpenAIClient"/>, and through Microsoft.Extensions.AI's
/// <c>IChatClient</c> over it with the layer's call scope. Plain calls are retried like chat, and a stream whose answer
/// has begun is never sent again.
/// </summary>
public sealed class ResponsesApiTests : IAsyncLifetime
{
    private const string Key = "responses-test-key";
    private const int ServerWaitMs = 300;
    private InProcessEmulator _emulator = null!;
    private IHost _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _emulator = await InProcessEmulator.StartAsync(Key);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:openai"] = $"Endpoint={_emulator.V1};Key={Key}" });
        builder.AddResilientOpenAI();
        builder.Services.AddKeyedChatClient("responses", services => services.GetRequiredService<OpenAIClient>().GetResponsesClient().AsIChatClient("gpt-4o"))
            .UseResilientCallScope()
            .UseUpstreamFailover((client, model) => client.GetResponsesClient().AsIChatClient(model));
        _app = builder.Build();
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        _app.Dispose();
        await _emulator.DisposeAsync();
    }

    private IChatClient ResponsesChat => _app.Services.GetRequiredKeyedService<IChatClient>("responses");

    [Fact]
    public async Task A_responses_call_waits_out_a_429_retries_a_503_and_gets_its_answer()
    {
        await _emulator.ScriptAsync($"429:retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok");
        var responses = _app.Services.GetRequiredService<OpenAIClient>().GetResponsesClient();

        ResponseResult response = await responses.CreateResponseAsync("gpt-4o", "Hello Responses", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(response.GetOutputText()));
        var seen = await _emulator.SeenAsync();
        Assert.Equal([("responses", "rate_limit"), ("responses", "service_unavailable"), ("responses", "ok")], seen.Select(r => (r.Operation, r.Outcome)));
        Assert.True(seen[1].After(seen[0]) >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {seen[1].After(seen[0]).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms"); // - 1: the log rounds to the millisecond
    }

    [Fact]
    public async Task A_responses_stream_cut_after_its_answer_began_is_not_sent_again()
    {
        await _emulator.ScriptAsync("disconnect:after=3", "ok");
        var responses = _app.Services.GetRequiredService<OpenAIClient>().GetResponsesClient();

        var received = 0;
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var _ in responses.CreateResponseStreamingAsync("gpt-4o", "Hello stream", cancellationToken: Ct))
            {
                received++;
            }
        });

        Assert.True(received > 0, "the stream broke before its first event");
        Assert.Equal(["responses"], (await _emulator.SeenAsync()).Select(r => r.Operation)); // one request: the break is the caller's to see
    }

    [Fact]
    public async Task The_responses_chat_client_streams_after_a_429_and_a_503_each_retried_once()
    {
        await _emulator.ScriptAsync($"429:retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok");
        var progress = new CallProgress("responses", _ => { });

        var text = new StringBuilder();
        using (progress.Enter())
        {
            await foreach (var update in ResponsesChat.GetStreamingResponseAsync("Hello streamed Responses", cancellationToken: Ct))
            {
                text.Append(update.Text);
            }
        }

        Assert.NotEqual(0, text.Length);
        var seen = await _emulator.SeenAsync();
        Assert.Equal([("responses", "rate_limit"), ("responses", "service_unavailable"), ("responses", "ok")], seen.Select(r => (r.Operation, r.Outcome)));
        Assert.True(seen[1].After(seen[0]) >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {seen[1].After(seen[0]).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms");
        Assert.Equal("gpt-4o", progress.Model); // the call scope routed it: gpt-4o's pipeline, the client's model
        Assert.Equal(3, progress.Attempts);
    }

    [Fact]
    public async Task The_responses_chat_client_answers_plainly_and_a_cut_stream_is_one_request()
    {
        await _emulator.ScriptAsync("500", "ok", "disconnect:after=3");

        var reply = await ResponsesChat.GetResponseAsync("Hello plain Responses", cancellationToken: Ct);
        var received = 0;
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var _ in ResponsesChat.GetStreamingResponseAsync("Hello cut stream", cancellationToken: Ct))
            {
                received++;
            }
        });

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.True(received > 0, "the stream broke before its first update");
        Assert.Equal([("responses", "server_error"), ("responses", "ok"), ("responses", "mid_stream_disconnect")], (await _emulator.SeenAsync()).Select(r => (r.Operation, r.Outcome)));
    }

    [Fact]
    public void A_call_scope_over_a_client_that_names_no_model_says_so_when_built()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ChatClientBuilder(new NoModelChatClient()).UseResilientCallScope().Build(_app.Services));

        Assert.Contains("names no model", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A chat client whose metadata names no model.</summary>
    private sealed class NoModelChatClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
