using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The client's model decides where a call goes; a caller's CallProgress only observes it.</summary>
public sealed class CallScopeChatClientTests
{
    private sealed class ModelSeen : IChatClient
    {
        public string? Model { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Model = CallRoute.Current?.Model;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "hi")));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            Model = CallRoute.Current?.Model;
            yield return new ChatResponseUpdate(ChatRole.Assistant, "hi");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task A_call_goes_to_its_clients_model_with_or_without_progress_and_the_progress_learns_it()
    {
        var inner = new ModelSeen();
        using var client = new CallScopeChatClient(inner, "gpt-4o-mini");

        await client.GetResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("gpt-4o-mini", inner.Model);
        Assert.Null(CallRoute.Current);

        await foreach (var _ in client.GetStreamingResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken))
        {
        }

        Assert.Equal("gpt-4o-mini", inner.Model);

        // A scope naming another model used to pick that model's breaker and gate; now it only observes.
        var progress = new CallProgress("gpt-4o");
        using (progress.Enter())
        {
            await client.GetResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken);
        }

        Assert.Equal("gpt-4o-mini", inner.Model);
        Assert.Equal("gpt-4o-mini", progress.Model);
    }

    [Fact]
    public void Leaving_the_scope_completes_the_call_so_the_last_failed_attempt_is_heard()
    {
        var heard = new List<AttemptReport>();
        var progress = new CallProgress("gpt-4o", heard.Add);
        using (progress.Enter())
        {
            progress.AttemptStarted();
            progress.AttemptEnded(1, "503", 503);
            Assert.Empty(heard); // a failure waits to learn whether a retry follows
        }

        Assert.Equal("503", Assert.Single(heard).Outcome);
    }
}
