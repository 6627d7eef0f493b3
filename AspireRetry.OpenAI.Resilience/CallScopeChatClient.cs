using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Opens a <see cref="CallProgress"/> for a call made without one, so the pipeline is still chosen by the
/// model (each model its own breaker and gate) when the caller does not observe the call.
/// </summary>
internal sealed class CallScopeChatClient(IChatClient inner, string model) : DelegatingChatClient(inner)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var scope = CallProgress.Current is null ? new CallProgress(model).Enter() : null;
        return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var scope = CallProgress.Current is null ? new CallProgress(model).Enter() : null;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }
    }
}
