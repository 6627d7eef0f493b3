using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
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
public sealed class ChatService(ResilientChatClients clients, IOptions<ModelOptions> models, IOptions<ResilienceOptions> resilience, ILogger<ChatService> logger, IMeterFactory meters)
{
    private readonly Histogram<int> _attemptsPerCall = meters.Create(RetryTelemetryConstants.MeterName)
        .CreateHistogram<int>("aspireretry.chat.attempts", unit: "{attempt}", description: "Upstream attempts per chat call.");

    public string ResolveModel(ChatRequest request) => request.Model ?? models.Value.DefaultModel;

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
                Record(progress, model, "ok");
                return (new ChatReply(response.Text, response.ModelId ?? progress.Model, progress.Attempts, TraceId(), ToUsage(response.Usage), progress.Upstream), null, progress.Attempts);
            }
            catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
            {
                progress.Complete();
                if (TryFallBack(progress, failure))
                {
                    continue;
                }

                Record(progress, model, failure.ErrorType);
                logger.LogWarning("Chat call on {Model} failed after {Attempts} attempt(s): {Title}", progress.Model, progress.Attempts, failure.Title);
                return (null, failure, progress.Attempts);
            }
        }
    }

    /// <summary>
    /// When the model's attempts were used up by transient errors and a fallback model is configured,
    /// switches the call to it, once. The switch is an event on the span, so the trace shows it.
    /// </summary>
    private bool TryFallBack(CallProgress progress, ChatFailure failure)
    {
        var fallback = resilience.Value.FallbackModel;
        if (fallback is null || progress.Model == fallback || !failure.IsTransient)
        {
            return false;
        }

        logger.LogWarning("Falling back from {Model} to {FallbackModel} after {Attempts} attempt(s): {Title}", progress.Model, fallback, progress.Attempts, failure.Title);
        Activity.Current?.AddEvent(new ActivityEvent("fallback", tags: new ActivityTagsCollection
        {
            ["fallback.from_model"] = progress.Model,
            ["fallback.to_model"] = fallback,
            ["fallback.reason"] = failure.ErrorType,
        }));
        progress.Model = fallback;
        return true;
    }

    /// <summary>
    /// Streams a reply as server-sent events: <c>start</c>, then <c>attempt</c> events while the upstream
    /// is tried, <c>delta</c> text once it answers, and <c>done</c> or <c>error</c>. The upstream call runs
    /// beside the writer, so attempt events reach the caller while we are still waiting for a first token.
    /// </summary>
    public async IAsyncEnumerable<SseItem<object>> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var model = ResolveModel(request);
        var events = Channel.CreateUnbounded<SseItem<object>>(new UnboundedChannelOptions { SingleReader = true });
        var progress = new CallProgress(model, attempt => events.Writer.TryWrite(new SseItem<object>(ToEvent(attempt), ChatStreamEvents.Attempt)));

        yield return new SseItem<object>(new StartEvent(TraceId(), model, resilience.Value.MaxRetryAttempts + 1), ChatStreamEvents.Start);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = ProduceWithFallbackAsync(request, progress, events.Writer, cancel.Token);
        try
        {
            await foreach (var item in events.Reader.ReadAllAsync(cancellationToken))
            {
                yield return item;
            }
        }
        finally
        {
            // However the reading ends (done, RequestAborted, or a failed write to a client that is
            // gone, which disposes this enumerator before RequestAborted fires), the upstream call
            // ends with it: no stream is left running for nobody.
            await cancel.CancelAsync();
            await producer;
        }
    }

    private async Task ProduceWithFallbackAsync(ChatRequest request, CallProgress progress, ChannelWriter<SseItem<object>> events, CancellationToken cancellationToken)
    {
        // Yield first so the caller's enumerator is already reading when the first attempt starts.
        await Task.Yield();
        using var scope = progress.Enter();
        try
        {
            while (await ProduceAsync(request, progress.Model, progress, events, cancellationToken) is { } failure)
            {
                if (!TryFallBack(progress, failure))
                {
                    Record(progress, progress.Model, failure.ErrorType);
                    logger.LogWarning("Chat stream on {Model} failed after {Attempts} attempt(s): {Title}", progress.Model, progress.Attempts, failure.Title);
                    events.TryWrite(Error(progress, failure));
                    return;
                }
            }
        }
        finally
        {
            events.TryComplete();
        }
    }

    /// <summary>
    /// One streamed call on one model. Returns the failure when it failed before the first chunk
    /// (so the caller may fall back); everything else it reports itself.
    /// </summary>
    private async Task<ChatFailure?> ProduceAsync(ChatRequest request, string model, CallProgress progress, ChannelWriter<SseItem<object>> events, CancellationToken cancellationToken)
    {
        var idleTimeout = resilience.Value.StreamIdleTimeout;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Re-arming the idle timer takes the timer queue's lock: per token, under load, that lock is a hot
        // spot. Re-armed at most once per slack and set for the timeout plus the slack, it still fires no
        // sooner than the timeout after the last chunk, and at most the slack (up to 100 ms) later.
        var slack = TimeSpan.FromTicks(Math.Min(idleTimeout.Ticks / 10, TimeSpan.TicksPerMillisecond * 100));
        var armedAt = 0L;
        var receivedAny = false;
        UsageDto? usage = null;
        var responseModel = model;
        try
        {
            await using var updates = clients.Get(model)
                .GetStreamingResponseAsync(ToMessages(request), cancellationToken: idle.Token)
                .GetAsyncEnumerator(idle.Token);
            while (true)
            {
                // Until the first chunk the pipeline's attempt timeout guards the wait; after it, the idle timeout.
                if (receivedAny && (armedAt == 0 || Stopwatch.GetElapsedTime(armedAt) >= slack))
                {
                    idle.CancelAfter(idleTimeout + slack);
                    armedAt = Stopwatch.GetTimestamp();
                }

                if (!await updates.MoveNextAsync())
                {
                    break;
                }

                if (!receivedAny)
                {
                    receivedAny = true;
                    progress.Complete();
                }

                var update = updates.Current;
                responseModel = update.ModelId ?? responseModel;
                if (update.Contents.OfType<UsageContent>().FirstOrDefault() is { } u)
                {
                    usage = ToUsage(u.Details);
                }

                if (update.Text is { Length: > 0 } text)
                {
                    events.TryWrite(new SseItem<object>(new DeltaEvent(text), ChatStreamEvents.Delta));
                }
            }

            progress.Complete();
            Record(progress, model, "ok");
            events.TryWrite(new SseItem<object>(new DoneEvent(progress.Attempts, responseModel, usage, TraceId(), progress.Upstream), ChatStreamEvents.Done));
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller went away (Stop, closed tab): the upstream request is cancelled with it; nothing to say.
            progress.Complete();
            Record(progress, model, "cancelled");
            return null;
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested)
        {
            progress.Complete();
            Record(progress, model, "stream_idle_timeout");
            events.TryWrite(Error(progress, new ChatFailure(StatusCodes.Status504GatewayTimeout, "Stream stalled",
                $"The model provider sent nothing for {idleTimeout.TotalSeconds:0.###} s (OpenAI:Resilience:StreamIdleTimeout); the reply above is incomplete.",
                null, "stream_idle_timeout")));
            return null;
        }
        catch (Exception ex) when (receivedAny)
        {
            // Never re-sent after the first token: the partial reply stays as it is, followed by the error.
            progress.Complete();
            Record(progress, model, "stream_broken");
            logger.LogWarning("Stream on {Model} broke after the first token: {Reason}", model, UpstreamOutcome.DescribeException(ex));
            events.TryWrite(Error(progress, new ChatFailure(StatusCodes.Status502BadGateway, "Stream interrupted",
                "The connection to the model provider broke in the middle of the reply; the reply above is incomplete. It was not re-sent, so nothing is duplicated.",
                null, "stream_broken")));
            return null;
        }
        catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
        {
            progress.Complete();
            return failure;
        }
        catch (Exception ex)
        {
            // Whatever else goes wrong, the caller gets an ending it can show, not a torn connection.
            progress.Complete();
            Record(progress, model, "internal_error");
            logger.LogError(ex, "Chat stream on {Model} failed unexpectedly", model);
            events.TryWrite(Error(progress, new ChatFailure(StatusCodes.Status500InternalServerError, "Unexpected error",
                "ChatApi failed in an unexpected way; the details are in its logs under this trace id.", null, "internal_error")));
            return null;
        }
    }

    private static SseItem<object> Error(CallProgress progress, ChatFailure failure) =>
        new(new ErrorEvent(failure.Status, failure.Title, failure.Detail, (long?)failure.RetryAfter?.TotalMilliseconds, progress.Attempts, TraceId()),
            ChatStreamEvents.Error);

    private void Record(CallProgress progress, string model, string outcome) =>
        _attemptsPerCall.Record(progress.Attempts,
            new KeyValuePair<string, object?>(RetryTelemetryConstants.Tags.Model, model),
            new KeyValuePair<string, object?>("aspireretry.outcome", outcome));

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
