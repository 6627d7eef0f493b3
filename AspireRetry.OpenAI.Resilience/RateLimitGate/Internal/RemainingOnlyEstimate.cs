namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// One rate-limit dimension an upstream publishes only as what remains (Azure OpenAI's <c>x-ratelimit-remaining-*</c>,
/// without <c>-limit-</c> or <c>-reset-</c>), completed into a <see cref="RateLimitDimension"/> the gate can pace on:
/// the limit is at least one more than the most it ever saw remaining, and the refill rate at least what two counts
/// prove. Between the sends of two answered requests <c>i</c> and <c>j</c> the bucket refilled by at least
/// <c>remaining(j) - remaining(i) + spent in between - 1</c> (the counts are whole; spending by others only hides
/// refill) over at most the time between the sends plus <c>j</c>'s round trip; the best such lower bound of the recent
/// counts is the rate. Until a pair proves more, the bucket is taken to refill over a minute, the longest window
/// OpenAI and Azure publish limits for. Every part errs slow, so the gate paces below the limit, never above it, and
/// rises to it as counts accumulate. Not thread-safe: the gate's lock guards it.
/// </summary>
internal sealed class RemainingOnlyEstimate
{
    private const int MaxCounts = 32;
    private static readonly TimeSpan LongestWindow = TimeSpan.FromMinutes(1);

    private readonly Queue<(TimeSpan Sent, long Remaining)> _counts = new();
    private long _most;
    private double _provenRatePerMs;

    /// <summary>
    /// Learns one response's <paramref name="remaining"/> count, for a request sent at <paramref name="sent"/> that took
    /// <paramref name="roundTrip"/>; <paramref name="spentBetween"/> is at least what this client spent after an earlier
    /// send and up to this one (this one included). Returns the dimension as if the upstream had published it.
    /// </summary>
    public RateLimitDimension Learn(TimeSpan sent, TimeSpan roundTrip, long remaining, Func<TimeSpan, TimeSpan, long> spentBetween)
    {
        foreach (var (earlier, was) in _counts)
        {
            var refilled = remaining - was + spentBetween(earlier, sent) - 1;
            var over = (sent - earlier + roundTrip).TotalMilliseconds;
            if (earlier < sent && refilled > 0 && over > 0)
            {
                _provenRatePerMs = Math.Max(_provenRatePerMs, refilled / over);
            }
        }

        _counts.Enqueue((sent, remaining));
        if (_counts.Count > MaxCounts)
        {
            _counts.Dequeue();
        }

        _most = Math.Max(_most, remaining);
        var limit = _most + 1;
        var rate = Math.Max(_provenRatePerMs, limit / LongestWindow.TotalMilliseconds);
        return new RateLimitDimension(limit, remaining, TimeSpan.FromMilliseconds((limit - remaining) / rate), Estimated: true);
    }
}
