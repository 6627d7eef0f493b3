using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Gives each call its <see cref="CallRoute"/>: the model of this client decides the pipeline (its breaker and gate), and
/// the failover writes the upstream of each pass there. A caller's <see cref="CallProgress"/>, when it has one, learns
/// the model and hears the attempts; it does not choose where the call goes. The answer's usage (the response's, or
/// the stream's last chunk's) settles the tokens its attempt reserved at the gate.
/// </summary>
internal sealed class CallScopeChatClient(IChatClient inner, string model) : DelegatingChatClient(inner)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var route = Begin();
        using (route.Enter())
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            route.Tokens?.Settle(response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
            return response;
        }
    }

    // The route must be current at the stream's first MoveNextAsync, when the request goes out: set inside the iterator.
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var route = Begin();
        using var scope = route.Enter();
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (route.Tokens is { } tokens)
            {
                // Indexed: a foreach over the IList boxes its enumerator, once per chunk.
                var contents = update.Contents;
                for (var i = 0; i < contents.Count; i++)
                {
                    if (contents[i] is UsageContent usage)
                    {
                        tokens.Settle(usage.Details.InputTokenCount, usage.Details.OutputTokenCount);
                    }
                }
            }

            yield return update;
        }
    }

    private CallRoute Begin()
    {
        CallProgress.Current?.Called(model);
        return new CallRoute(model);
    }
}
