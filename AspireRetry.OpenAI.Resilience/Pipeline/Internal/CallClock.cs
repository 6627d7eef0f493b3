using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// When a call's budget (<c>TotalTimeout</c>) started, kept in its resilience context. Started once, by
/// the total timeout as it starts timing the call, so a wait at the gate counts against the budget
/// exactly as an attempt does; read by whoever must know what is left.
/// </summary>
internal static class CallClock
{
    private static readonly ResiliencePropertyKey<long> StartedKey = new("aspireretry.started");

    public static void Start(ResilienceContext context, TimeProvider time) => context.Properties.Set(StartedKey, time.GetTimestamp());

    /// <summary>Time since the call started; zero when no total timeout started it (a pipeline without one).</summary>
    public static TimeSpan Elapsed(ResilienceContext context, TimeProvider time) =>
        context.Properties.TryGetValue(StartedKey, out var started) ? time.GetElapsedTime(started) : TimeSpan.Zero;

    /// <summary>What is left of the call's budget.</summary>
    public static TimeSpan Left(ResilienceContext context, TimeProvider time, ResilienceOptions options) =>
        options.TotalTimeout - Elapsed(context, time);

    /// <summary>The one way a message says a wait does not fit the budget: "more than the 1.2 s left of OpenAI:Resilience:TotalTimeout".</summary>
    public static string MoreThanLeft(TimeSpan left) =>
        $"more than the {TimeSpans.Seconds(TimeSpans.Max(left, TimeSpan.Zero))} left of {ResilienceOptions.SectionName}:TotalTimeout";
}
