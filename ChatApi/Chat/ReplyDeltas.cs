using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// One model's streamed answer, read as the texts of the stream's delta events. Chunks the upstream has already sent
/// when one is read go out as one delta: under load, when ChatApi falls behind the upstream, the caller gets fewer,
/// longer deltas (the same text) instead of ChatApi spending as much per event as the upstream did. Until the first
/// chunk the pipeline's attempt timeout guards the wait; after it, the idle timeout (<c>StreamIdleTimeout</c>).
/// </summary>
internal sealed class ReplyDeltas(IChatClient client, List<AiChatMessage> messages, CallProgress progress, TimeSpan idleTimeout, CancellationToken cancellationToken)
    : IAsyncDisposable
{
    // A delta carries at most this many chunks, so a reply the upstream sent all at once still reaches the
    // page in several steps.
    private const int MaxChunksPerDelta = 16;

    // Re-arming the idle timer takes the timer queue's lock: per token, under load, that lock is a hot spot.
    // Re-armed at most once per slack and set for the timeout plus the slack, it still fires no sooner than the
    // timeout after the last chunk, and at most the slack (up to 100 ms) later.
    private readonly TimeSpan _slack = TimeSpan.FromTicks(Math.Min(idleTimeout.Ticks / 10, TimeSpan.TicksPerMillisecond * 100));
    private readonly CancellationTokenSource _idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    private readonly StringBuilder _text = new();
    private IAsyncEnumerator<ChatResponseUpdate>? _updates;
    private ValueTask<bool>? _pending;
    private long _armedAt;

    /// <summary>The first chunk has arrived: from here on a failure ends the reply, which is never re-sent.</summary>
    public bool ReceivedAny { get; private set; }

    /// <summary>The upstream sent nothing for the idle timeout (or the caller went away: the timer is linked to it).</summary>
    public bool IdleTimedOut => _idle.IsCancellationRequested;

    /// <summary>The model that answered, as the upstream names it; the model asked for until it says.</summary>
    public string ResponseModel { get; private set; } = progress.Model;

    public UsageDto? Usage { get; private set; }

    /// <summary>The next delta's text; null once the answer is complete.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<string?> NextAsync()
    {
        if (_updates is null)
        {
            // The call's scope flows into the stream; its end does not complete the call (the first chunk, or the reply's
            // end, does): the first attempt may be failing on another thread as this returns.
            using var scope = progress.Flow();
            _updates = client.GetStreamingResponseAsync(messages, cancellationToken: _idle.Token).GetAsyncEnumerator(_idle.Token);
            _pending = _updates.MoveNextAsync();
        }
        else if (progress.Span is { IsStopped: false } span && Activity.Current != span)
        {
            // The call's chat span made current for the reads below, once this stream has been routed (before, the span
            // may still be an earlier model's): the GenAI telemetry makes it current again after each update, which
            // allocates an execution context per update when another span is current, and nothing when it is. Only for
            // this method's reads (an async method's changes to it end with it).
            Activity.Current = span;
        }

        var chunks = 0;
        while (true)
        {
            var move = _pending ?? MoveNext();
            _pending = null;
            if (chunks > 0 && (!move.IsCompletedSuccessfully || chunks == MaxChunksPerDelta))
            {
                // Nothing more is ready (or the delta is full, or the stream broke): send what we have first.
                _pending = move;
                return TakeText();
            }

            if (!await move)
            {
                if (chunks > 0)
                {
                    _pending = new ValueTask<bool>(false);
                    return TakeText();
                }

                return null;
            }

            if (!ReceivedAny)
            {
                ReceivedAny = true;
                progress.Complete();
            }

            var update = _updates.Current;
            ResponseModel = update.ModelId ?? ResponseModel;
            // Indexed: a foreach over the IList boxes its enumerator, once per chunk.
            var contents = update.Contents;
            for (var i = 0; i < contents.Count; i++)
            {
                var content = contents[i];
                if (content is TextContent { Text.Length: > 0 } text)
                {
                    _text.Append(text.Text);
                    chunks++;
                }
                else if (content is UsageContent usage)
                {
                    Usage = usage.Details.ToDto();
                }
            }
        }
    }

    private ValueTask<bool> MoveNext()
    {
        if (ReceivedAny && (_armedAt == 0 || Stopwatch.GetElapsedTime(_armedAt) >= _slack))
        {
            _idle.CancelAfter(idleTimeout + _slack);
            _armedAt = Stopwatch.GetTimestamp();
        }

        return _updates!.MoveNextAsync();
    }

    private string TakeText()
    {
        var text = _text.ToString();
        _text.Clear();
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        if (_updates is { } updates)
        {
            _updates = null;
            await updates.DisposeAsync();
        }

        _idle.Dispose();
    }
}
