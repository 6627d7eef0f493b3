using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Opens a <see cref="CallProgress"/> for a call made without one, so the pipeline is still chosen by the
/// upstream and model (each its own breaker and gate) when the caller does not observe the call: the scope is also
/// where the failover writes which upstream an attempt goes to. A caller with a scope of its own must have it current
/// both when it asks for a stream and at the stream's first MoveNextAsync.
/// </summary>
internal sealed class CallScopeChatClient(IChatClient inner, string model) : DelegatingChatClient(inner)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var scope = CallProgress.Current is null ? new CallProgress(model).Enter() : null;
        return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
    }

    // A caller that observes its call (ChatApi does) already has a scope: its stream is handed through as it is,
    // without a layer of our own around every chunk.
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        CallProgress.Current is null
            ? ScopedStreamingResponseAsync(messages, options, cancellationToken)
            : base.GetStreamingResponseAsync(messages, options, cancellationToken);

    private async IAsyncEnumerable<ChatResponseUpdate> ScopedStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var scope = CallProgress.Current is null ? new CallProgress(model).Enter() : null;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }
    }
}
