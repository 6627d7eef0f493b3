using System.Net.ServerSentEvents;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.ChatApi.Chat;

/// <summary>The events of <c>POST /api/chat/stream</c>, each as the server-sent event it goes out as.</summary>
internal static class ChatEvents
{
    public static SseItem<object> Start(string model, int maxAttempts) =>
        new(new StartEvent(ChatContract.TraceId(), model, maxAttempts), ChatStreamEvents.Start);

    /// <summary>
    /// The library's report of an attempt. A wait at the gate and a wait for the upstream to recover have their own
    /// outcomes on the wire (the page shows them as waits, not failed attempts).
    /// </summary>
    public static SseItem<object> Attempt(AttemptReport attempt) =>
        new(new AttemptEvent(attempt.Number,
                attempt.Outcome switch
                {
                    RetryTelemetryConstants.Outcomes.RateLimitWait => AttemptEvent.RateLimitWait,
                    RetryTelemetryConstants.Outcomes.RecoveryWait => AttemptEvent.RecoveryWait,
                    var outcome => outcome,
                },
                attempt.StatusCode, attempt.Reason, attempt.Delay is { } delay ? (long)delay.TotalMilliseconds : null,
                attempt.FailoverTo, attempt.FailoverFrom),
            ChatStreamEvents.Attempt);

    public static SseItem<object> Delta(string text) => new(new DeltaEvent(text), ChatStreamEvents.Delta);

    public static SseItem<object> Done(CallProgress progress, string responseModel, UsageDto? usage) =>
        new(new DoneEvent(progress.Attempts, responseModel, usage, ChatContract.TraceId(), progress.Upstream), ChatStreamEvents.Done);

    public static SseItem<object> Error(CallProgress progress, ChatFailure failure) =>
        new(new ErrorEvent(failure.Status, failure.Title, failure.Detail, (long?)failure.RetryAfter?.TotalMilliseconds, progress.Attempts, ChatContract.TraceId()),
            ChatStreamEvents.Error);
}
