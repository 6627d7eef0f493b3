using System.Diagnostics.Metrics;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// ChatApi's instrument beside the library's: the upstream attempts each chat call took, by the model the call
/// ended on (after a fallback, the fallback model, whose request answered or failed last) and how it ended.
/// </summary>
internal sealed class ChatMetrics(IMeterFactory meters)
{
    /// <summary>Histogram of upstream attempts per chat call, tagged <see cref="RetryTelemetryConstants.Tags.Model"/> and <see cref="OutcomeTag"/>.</summary>
    public const string AttemptsPerCall = "aspireretry.chat.attempts";

    /// <summary>How the call ended: <see cref="Answered"/>, <see cref="Cancelled"/> or a <see cref="ChatFailure.ErrorType"/>.</summary>
    public const string OutcomeTag = "aspireretry.outcome";

    /// <summary>The outcome of a call that got its reply.</summary>
    public const string Answered = "ok";

    /// <summary>The outcome of a call its caller left before the end.</summary>
    public const string Cancelled = "cancelled";

    // One bucket per count: with OpenTelemetry's default boundaries (0, 5, 10, 25, ...) a window of single attempts read
    // as P50 = 5 in the dashboard, and calls of 5 and 7 attempts as 10.
    private readonly Histogram<int> _attemptsPerCall = meters.Create(RetryTelemetryConstants.MeterName)
        .CreateHistogram<int>(AttemptsPerCall, unit: "{attempt}", description: "Upstream attempts per chat call.", tags: null,
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20] });

    public void CallEnded(CallProgress progress, string outcome) =>
        _attemptsPerCall.Record(progress.Attempts,
            new KeyValuePair<string, object?>(RetryTelemetryConstants.Tags.Model, progress.Model),
            new KeyValuePair<string, object?>(OutcomeTag, outcome));
}
