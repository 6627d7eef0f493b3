using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.ChatApi.Chat;

internal sealed partial class ChatStream
{
    /// <summary>
    /// The reply's events (delta, done or error), read one event at a time by the caller: on the model asked for and,
    /// when its attempts ran out before the first chunk, on the fallback model. Whatever happens, the reply ends with
    /// an event the caller can show, or with nothing when the caller went away.
    /// </summary>
    private sealed class StreamedReply(ChatStream stream, ChatRequest request, CallProgress progress, CancellationToken cancellationToken) : IAsyncDisposable
    {
        private ReplyDeltas? _deltas;
        private bool _ended;

        public SseItem<object> Current { get; private set; }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<bool> MoveNextAsync()
        {
            while (!_ended)
            {
                try
                {
                    _deltas ??= stream.Ask(request, progress, cancellationToken);
                    Current = await _deltas.NextAsync() is { } text ? ChatEvents.Delta(text) : Done(_deltas);
                    return true;
                }
                catch (Exception ex) when (Fail(ex) is { } failure)
                {
                    // Failed before the first chunk: on the fallback model if there is one, else the error.
                    await EndCallAsync();
                    if (stream.Fallback.TryFallBack(progress, failure, "stream"))
                    {
                        continue;
                    }

                    return End(ChatEvents.Error(progress, failure));
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

        private SseItem<object> Done(ReplyDeltas deltas)
        {
            progress.Complete();
            stream.Metrics.CallEnded(progress, ChatMetrics.Answered);
            _ended = true;
            return ChatEvents.Done(progress, deltas.ResponseModel, deltas.Usage);
        }

        private ChatFailure? Fail(Exception exception) =>
            _deltas?.ReceivedAny == true || exception is OperationCanceledException && (cancellationToken.IsCancellationRequested || _deltas?.IdleTimedOut == true)
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
                    stream.Metrics.CallEnded(progress, ChatMetrics.Cancelled);
                    return null;
                case OperationCanceledException when _deltas?.IdleTimedOut == true:
                    return Failed(ChatFailure.StreamStalled(stream.IdleTimeout));
                case var ex when _deltas?.ReceivedAny == true:
                    // Never re-sent after the first token: the partial reply stays as it is, followed by the error.
                    stream.Logger.LogWarning("Stream on {Model} broke after the first token: {Reason}", progress.Model, UpstreamOutcome.DescribeException(ex));
                    return Failed(ChatFailure.BrokenMidReply);
                case var ex:
                    // Whatever else goes wrong, the caller gets an ending it can show, not a torn connection.
                    stream.Logger.LogError(ex, "Chat stream on {Model} failed unexpectedly", progress.Model);
                    return Failed(ChatFailure.Unexpected);
            }
        }

        private SseItem<object> Failed(ChatFailure failure)
        {
            stream.Metrics.CallEnded(progress, failure.ErrorType);
            return ChatEvents.Error(progress, failure);
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
            if (_deltas is { } deltas)
            {
                _deltas = null;
                await deltas.DisposeAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_ended && _deltas is not null)
            {
                // The caller stopped reading before the end (Stop, closed tab): the upstream request ends here.
                _ended = true;
                stream.Metrics.CallEnded(progress, ChatMetrics.Cancelled);
            }

            await EndCallAsync();
        }
    }
}
