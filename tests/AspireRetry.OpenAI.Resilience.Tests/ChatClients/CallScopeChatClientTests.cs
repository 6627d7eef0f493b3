using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>A call made without a CallProgress still reaches the pipeline as a call on its model.</summary>
public sealed class CallScopeChatClientTests
{
    private sealed class ModelSeen : IChatClient
    {
        public string? Model { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Model = CallProgress.Current?.Model;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "hi")));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            Model = CallProgress.Current?.Model;
            yield return new ChatResponseUpdate(ChatRole.Assistant, "hi");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task A_call_without_progress_is_scoped_to_its_model_and_one_with_progress_keeps_its_own()
    {
        var inner = new ModelSeen();
        using var client = new CallScopeChatClient(inner, "gpt-4o-mini");

        await client.GetResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("gpt-4o-mini", inner.Model);
        Assert.Null(CallProgress.Current);

        await foreach (var _ in client.GetStreamingResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken))
        {
        }

        Assert.Equal("gpt-4o-mini", inner.Model);

        using (new CallProgress("fallback-model").Enter())
        {
            await client.GetResponseAsync("Hello", cancellationToken: TestContext.Current.CancellationToken);
        }

        Assert.Equal("fallback-model", inner.Model);
    }
}
