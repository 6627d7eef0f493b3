using System.Collections.Concurrent;
using System.Diagnostics;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// The GenAI spans (<c>chat {model}</c>) the calls make, as an operator's tracing backend receives them: the gate's, the
/// budget's and the recovery gate's decisions are events on them. One listener for the assembly; each call runs under a
/// parent of its own, so its spans are found by that parent however many tests run at once.
/// </summary>
public static class GenAISpans
{
    /// <summary>Microsoft.Extensions.AI's <c>UseOpenTelemetry</c> source, which the library's chat clients use.</summary>
    private const string SourceName = "Experimental.Microsoft.Extensions.AI";

    private static readonly ConcurrentDictionary<ActivitySpanId, ConcurrentQueue<Activity>> ByParent = new();

    private static readonly ActivityListener Listener = Start();

    /// <summary>The stopped GenAI spans whose parent is <paramref name="parent"/>.</summary>
    public static IReadOnlyList<Activity> Under(ActivitySpanId parent) =>
        ByParent.TryGetValue(parent, out var spans) ? [.. spans] : [];

    /// <summary>Makes sure the listener runs before the first call (the source creates spans only for a listener).</summary>
    public static void Listen() => GC.KeepAlive(Listener);

    private static ActivityListener Start()
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = span => ByParent.GetOrAdd(span.ParentSpanId, _ => new()).Enqueue(span),
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    /// <summary>A tag of a span event (null when absent).</summary>
    public static object? Tag(this ActivityEvent e, string key) => e.Tags.FirstOrDefault(t => t.Key == key).Value;

    /// <summary>Which state decided: <c>shared</c> (the store replicas share) or <c>local</c> (the replica's own).</summary>
    public static string? StateSource(this ActivityEvent e) => e.Tag(RetryTelemetryConstants.Tags.StateSource) as string;
}
