using System.Diagnostics;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// The one fallback path of a chat call, plain or streamed: a call that failed before any output, with its model's
/// attempts used up by transient errors, goes on once on the fallback model (<c>OpenAI:FallbackModel</c>);
/// any other failure is final, and counted and logged as such here.
/// </summary>
// Logs under ChatService's category: a chat's log lines keep one name for filters and queries.
internal sealed class ModelFallback(IOptions<ModelOptions> models, ChatMetrics metrics, ILogger<ChatService> logger)
{
    /// <summary>
    /// Whether the failed call goes on, on the fallback model (then <paramref name="progress"/> names it, and an event on
    /// the span says so); false when <paramref name="failure"/> is final.
    /// </summary>
    /// <param name="call">What failed, for the log: <c>call</c> or <c>stream</c>.</param>
    public bool TryFallBack(CallProgress progress, ChatFailure failure, string call)
    {
        var fallback = models.Value.FallbackModel;
        if (fallback is null || progress.Model == fallback || !failure.IsTransient)
        {
            metrics.CallEnded(progress, failure.ErrorType);
            logger.LogWarning("Chat {Call} on {Model} failed after {Attempts} attempt(s): {Title}", call, progress.Model, progress.Attempts, failure.Title);
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
}
