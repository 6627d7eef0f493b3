using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// A reply as server-sent events: <c>start</c>, then <c>attempt</c> events while the upstream is tried, <c>delta</c>
/// text once it answers, and <c>done</c> or <c>error</c> (<see cref="StreamedReply"/>). Until the reply's first event,
/// attempt events reach the caller as they happen, while we are still waiting; from then on the caller's reads pull
/// the upstream's chunks themselves, with no hand-over to another thread per token.
/// </summary>
internal sealed partial class ChatStream(
    ChatModels clients,
    OpenAIUpstreams upstreams,
    IOptions<ResilienceOptions> resilience,
    ModelFallback fallback,
    ChatMetrics metrics,
    ILogger<ChatService> logger) // a chat's log lines keep one category, as in ModelFallback
{
    public async IAsyncEnumerable<SseItem<object>> StreamAsync(ChatRequest request, string model, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The library's reports, turned into events as they are read (a queue of references: its first segment is a
        // fifth of one of events, and a channel is made per reply).
        var attempts = Channel.CreateUnbounded<AttemptReport>(new UnboundedChannelOptions { SingleReader = true });
        var progress = new CallProgress(model, attempt => attempts.Writer.TryWrite(attempt));

        yield return ChatEvents.Start(model, MaxAttempts(model));

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reply = new StreamedReply(this, request, progress, cancel.Token);
        Task<bool>? waiting = null;
        try
        {
            var next = reply.MoveNextAsync();
            if (!next.IsCompleted)
            {
                // The attempts are made while we wait for the reply's first event: whichever comes first, an
                // attempt's report or the reply. Only here, before the first event, are tasks allocated to wait on both.
                waiting = next.AsTask();
                while (!waiting.IsCompleted)
                {
                    var reported = attempts.Reader.WaitToReadAsync(cancellationToken);
                    if (!reported.IsCompleted)
                    {
                        await Task.WhenAny(waiting, reported.AsTask());
                    }
                    else if (reported.IsCanceled)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                    }

                    while (attempts.Reader.TryRead(out var attempt))
                    {
                        yield return ChatEvents.Attempt(attempt);
                    }
                }

                next = new ValueTask<bool>(waiting);
            }

            while (await next)
            {
                // The last failed attempt is reported when the reply's first event (a token or the error) is known.
                while (attempts.Reader.TryRead(out var attempt))
                {
                    yield return ChatEvents.Attempt(attempt);
                }

                yield return reply.Current;
                next = reply.MoveNextAsync();
            }
        }
        finally
        {
            // However the reading ends (done, RequestAborted, or a failed write to a client that is gone,
            // which disposes this enumerator before RequestAborted fires), the upstream call ends with it:
            // no stream is left running for nobody.
            await cancel.CancelAsync();
            if (waiting is { IsCompleted: false })
            {
                await ((Task)waiting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await reply.DisposeAsync();
        }
    }

    /// <summary>
    /// The most attempts one call can make: each upstream that serves the model may take all of its own (one that can
    /// fail over usually takes one), so the page never shows "attempt 6 of 5" after a failover.
    /// </summary>
    private int MaxAttempts(string model) =>
        (resilience.Value.MaxRetryAttempts + 1) * Math.Max(1, upstreams.All.Count(u => u.Connection.Serves(model)));

    // What each reply uses; its own class cannot see this one's constructor parameters.
    private ModelFallback Fallback => fallback;

    private ChatMetrics Metrics => metrics;

    private ILogger Logger => logger;

    private TimeSpan IdleTimeout => resilience.Value.StreamIdleTimeout;

    /// <summary>The reply of the model the call is on now; its first read sends the request.</summary>
    private ReplyDeltas Ask(ChatRequest request, CallProgress progress, CancellationToken cancellationToken) =>
        new(clients.For(progress.Model), request.ToMessages(), progress, IdleTimeout, cancellationToken);
}
