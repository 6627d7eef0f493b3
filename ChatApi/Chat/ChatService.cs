using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// One conversation turn against the upstream: plain or streamed, with every attempt reported.
/// Retries are not here: they live in the "openai" HttpClient's pipeline; this class only listens.
/// </summary>
internal sealed class ChatService(ResilientChatClients clients, OpenAIUpstreams upstreams, IOptions<ModelOptions> models, IOptions<ResilienceOptions> resilience, ModelFallback fallback, ChatMetrics metrics, ILogger<ChatService> logger)
{
    public string ResolveModel(ChatRequest request) => request.Model ?? models.Value.DefaultModel;

    /// <summary>
    /// The most attempts one call can make: each upstream that serves the model may take all of its own (one that can
    /// fail over usually takes one), so the page never shows "attempt 6 of 5" after a failover.
    /// </summary>
    private int MaxAttempts(string model) =>
        (resilience.Value.MaxRetryAttempts + 1) * Math.Max(1, upstreams.All.Count(u => u.Connection.Serves(model)));

    public async Task<(ChatReply? Reply, ChatFailure? Failure, int Attempts)> CompleteAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var model = ResolveModel(request);
        var progress = new CallProgress(model);
        using var scope = progress.Enter();
        while (true)
        {
            try
            {
                var response = await clients.Get(progress.Model).GetResponseAsync(ToMessages(request), cancellationToken: cancellationToken);
                progress.Complete();
                metrics.CallEnded(progress, ChatMetrics.Answered);
                return (new ChatReply(response.Text, response.ModelId ?? progress.Model, progress.Attempts, TraceId(), ToUsage(response.Usage), progress.Upstream), null, progress.Attempts);
            }
            catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
            {
                progress.Complete();
                if (!fallback.TryFallBack(progress, failure, "call"))
                {
                    return (null, failure, progress.Attempts);
                }
            }
        }
    }

    /// <summary>
    /// Streams a reply as server-sent events: <c>start</c>, then <c>attempt</c> events while the upstream
    /// is tried, <c>delta</c> text once it answers, and <c>done</c> or <c>error</c>. Until the reply's first
    /// event, attempt events reach the caller as they happen, while we are still waiting; from then on the
    /// caller's reads pull the upstream's chunks themselves, with no hand-over to another thread per token.
    /// </summary>
    public async IAsyncEnumerable<SseItem<object>> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var model = ResolveModel(request);
        var attempts = Channel.CreateUnbounded<SseItem<object>>();
        var progress = new CallProgress(model, attempt => attempts.Writer.TryWrite(new SseItem<object>(ToEvent(attempt), ChatStreamEvents.Attempt)));

        yield return new SseItem<object>(new StartEvent(TraceId(), model, MaxAttempts(model)), ChatStreamEvents.Start);

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
                        yield return attempt;
                    }
                }

                next = new ValueTask<bool>(waiting);
            }

            while (await next)
            {
                // The last failed attempt is reported when the reply's first event (a token or the error) is known.
                while (attempts.Reader.TryRead(out var attempt))
                {
                    yield return attempt;
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
    /// The reply's events (delta, done or error) on the upstream, read one event at a time by the caller, and on
    /// the fallback model when the first one's attempts ran out. Chunks the upstream has already sent when one is
    /// read go out as one delta event: under load, when ChatApi falls behind the upstream, the caller gets fewer,
    /// longer deltas (the same text) instead of ChatApi spending as much per event as the upstream did.
    /// </summary>
    private sealed class StreamedReply(ChatService chat, ChatRequest request, CallProgress progress, CancellationToken cancellationToken) : IAsyncDisposable
    {
        // A delta carries at most this many chunks, so a reply the upstream sent all at once still reaches the
        // page in several steps.
        private const int MaxChunksPerDelta = 16;

        private readonly TimeSpan _idleTimeout = chat.StreamIdleTimeout;

        // Re-arming the idle timer takes the timer queue's lock: per token, under load, that lock is a hot spot.
        // Re-armed at most once per slack and set for the timeout plus the slack, it still fires no sooner than the
        // timeout after the last chunk, and at most the slack (up to 100 ms) later.
        private readonly TimeSpan _slack = TimeSpan.FromTicks(Math.Min(chat.StreamIdleTimeout.Ticks / 10, TimeSpan.TicksPerMillisecond * 100));
        private readonly StringBuilder _text = new();
        private CancellationTokenSource? _idle;
        private IAsyncEnumerator<ChatResponseUpdate>? _updates;
        private ValueTask<bool>? _pending;
        private long _armedAt;
        private bool _receivedAny;
        private bool _ended;
        private UsageDto? _usage;
        private string _model = progress.Model;
        private string _responseModel = progress.Model;

        public SseItem<object> Current { get; private set; }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<bool> MoveNextAsync()
        {
            while (!_ended)
            {
                try
                {
                    Current = await NextAsync();
                    return true;
                }
                catch (Exception ex) when (Fail(ex) is { } failure)
                {
                    // Failed before the first chunk: on the fallback model if there is one, else the error.
                    await EndCallAsync();
                    if (chat.Fallback.TryFallBack(progress, failure, "stream"))
                    {
                        continue;
                    }

                    return End(Error(progress, failure));
                }
                catch (Exception ex)
                {
                    var last = Ended(ex);
                    await EndCallAsync();
                    return End(last);
                }
            }

            return false;
        }

        /// <summary>The next delta, or the done event.</summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<SseItem<object>> NextAsync()
        {
            if (_updates is null)
            {
                _model = progress.Model;
                _responseModel = _model;
                _idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var scope = progress.Enter();
                _updates = chat.ClientFor(_model)
                    .GetStreamingResponseAsync(ToMessages(request), cancellationToken: _idle.Token)
                    .GetAsyncEnumerator(_idle.Token);
                _pending = _updates.MoveNextAsync();
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
                    return Delta();
                }

                if (!await move)
                {
                    if (chunks > 0)
                    {
                        _pending = new ValueTask<bool>(false);
                        return Delta();
                    }

                    progress.Complete();
                    chat.Metrics.CallEnded(progress, ChatMetrics.Answered);
                    _ended = true;
                    return new SseItem<object>(new DoneEvent(progress.Attempts, _responseModel, _usage, TraceId(), progress.Upstream), ChatStreamEvents.Done);
                }

                if (!_receivedAny)
                {
                    _receivedAny = true;
                    progress.Complete();
                }

                var update = _updates!.Current;
                _responseModel = update.ModelId ?? _responseModel;
                foreach (var content in update.Contents)
                {
                    if (content is TextContent { Text.Length: > 0 } text)
                    {
                        _text.Append(text.Text);
                        chunks++;
                    }
                    else if (content is UsageContent usage)
                    {
                        _usage = ToUsage(usage.Details);
                    }
                }
            }
        }

        private ValueTask<bool> MoveNext()
        {
            // Until the first chunk the pipeline's attempt timeout guards the wait; after it, the idle timeout.
            if (_receivedAny && (_armedAt == 0 || Stopwatch.GetElapsedTime(_armedAt) >= _slack))
            {
                _idle!.CancelAfter(_idleTimeout + _slack);
                _armedAt = Stopwatch.GetTimestamp();
            }

            return _updates!.MoveNextAsync();
        }

        private SseItem<object> Delta()
        {
            var text = _text.ToString();
            _text.Clear();
            return new SseItem<object>(new DeltaEvent(text), ChatStreamEvents.Delta);
        }

        private ChatFailure? Fail(Exception exception) =>
            _receivedAny || exception is OperationCanceledException && (cancellationToken.IsCancellationRequested || _idle?.IsCancellationRequested == true)
                ? null
                : ChatFailure.From(exception, progress);

        /// <summary>How a call that will not fall back ends: an error event, or nothing when the caller went away.</summary>
        private SseItem<object>? Ended(Exception exception)
        {
            progress.Complete();
            switch (exception)
            {
                case OperationCanceledException when cancellationToken.IsCancellationRequested:
                    // The caller went away (Stop, closed tab): the upstream request is cancelled with it; nothing to say.
                    chat.Metrics.CallEnded(progress, ChatMetrics.Cancelled);
                    return null;
                case OperationCanceledException when _idle?.IsCancellationRequested == true:
                    chat.Metrics.CallEnded(progress, "stream_idle_timeout");
                    return Error(progress, new ChatFailure(StatusCodes.Status504GatewayTimeout, "Stream stalled",
                        $"The model provider sent nothing for {_idleTimeout.TotalSeconds:0.###} s (OpenAI:Resilience:StreamIdleTimeout); the reply above is incomplete.",
                        null, "stream_idle_timeout"));
                case var ex when _receivedAny:
                    // Never re-sent after the first token: the partial reply stays as it is, followed by the error.
                    chat.Metrics.CallEnded(progress, "stream_broken");
                    chat.Logger.LogWarning("Stream on {Model} broke after the first token: {Reason}", _model, UpstreamOutcome.DescribeException(ex));
                    return Error(progress, new ChatFailure(StatusCodes.Status502BadGateway, "Stream interrupted",
                        "The connection to the model provider broke in the middle of the reply; the reply above is incomplete. It was not re-sent, so nothing is duplicated.",
                        null, "stream_broken"));
                case var ex:
                    // Whatever else goes wrong, the caller gets an ending it can show, not a torn connection.
                    chat.Metrics.CallEnded(progress, "internal_error");
                    chat.Logger.LogError(ex, "Chat stream on {Model} failed unexpectedly", _model);
                    return Error(progress, new ChatFailure(StatusCodes.Status500InternalServerError, "Unexpected error",
                        "ChatApi failed in an unexpected way; the details are in its logs under this trace id.", null, "internal_error"));
            }
        }

        private bool End(SseItem<object>? item)
        {
            _ended = true;
            if (item is not { } last)
            {
                return false;
            }

            Current = last;
            return true;
        }

        private async ValueTask EndCallAsync()
        {
            progress.Complete();
            _pending = null;
            _receivedAny = false;
            _armedAt = 0;
            _text.Clear();
            if (_updates is { } updates)
            {
                _updates = null;
                await updates.DisposeAsync();
            }

            _idle?.Dispose();
            _idle = null;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_ended && _updates is not null)
            {
                // The caller stopped reading before the end (Stop, closed tab): the upstream request ends here.
                _ended = true;
                chat.Metrics.CallEnded(progress, ChatMetrics.Cancelled);
            }

            await EndCallAsync();
        }
    }

    private TimeSpan StreamIdleTimeout => resilience.Value.StreamIdleTimeout;

    private ILogger Logger => logger;

    private ChatMetrics Metrics => metrics;

    private ModelFallback Fallback => fallback;

    private IChatClient ClientFor(string model) => clients.Get(model);

    private static SseItem<object> Error(CallProgress progress, ChatFailure failure) =>
        new(new ErrorEvent(failure.Status, failure.Title, failure.Detail, (long?)failure.RetryAfter?.TotalMilliseconds, progress.Attempts, TraceId()),
            ChatStreamEvents.Error);

    /// <summary>
    /// The library's report of an attempt, as this API's <c>attempt</c> event. A wait at the gate and a wait for
    /// the upstream to recover have their own outcomes on the wire (the page shows them as waits, not failed attempts).
    /// </summary>
    private static AttemptEvent ToEvent(AttemptReport attempt) =>
        new(attempt.Number,
            attempt.Outcome switch
            {
                RetryTelemetryConstants.Outcomes.RateLimitWait => AttemptEvent.RateLimitWait,
                RetryTelemetryConstants.Outcomes.RecoveryWait => AttemptEvent.RecoveryWait,
                var outcome => outcome,
            },
            attempt.StatusCode, attempt.Reason, attempt.Delay is { } delay ? (long)delay.TotalMilliseconds : null);

    private static List<AiChatMessage> ToMessages(ChatRequest request) =>
        [.. request.Messages!.Select(m => new AiChatMessage(new AiChatRole(m.Role!), m.Content))];

    private static UsageDto? ToUsage(UsageDetails? usage) =>
        usage is null ? null : new UsageDto(usage.InputTokenCount, usage.OutputTokenCount);

    private static string? TraceId() => Activity.Current?.TraceId.ToHexString();
}
