using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// When the current attempt started, kept in the call's resilience context. Started by the attempt timeout
/// as it starts timing an attempt (after any wait at the gate), so the retry can tell how fast a failure came back.
/// </summary>
internal static class AttemptClock
{
    private static readonly ResiliencePropertyKey<long> StartedKey = new("aspireretry.attempt.started");

    public static void Start(ResilienceContext context, TimeProvider time) => context.Properties.Set(StartedKey, time.GetTimestamp());

    /// <summary>How long the current attempt has taken; null when nothing timed it (a pipeline without the attempt timeout).</summary>
    public static TimeSpan? Elapsed(ResilienceContext context, TimeProvider time) =>
        context.Properties.TryGetValue(StartedKey, out var started) ? time.GetElapsedTime(started) : null;
}
