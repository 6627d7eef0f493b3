namespace AspireRetry.OpenAIEmulator.RateLimiting;

/// <summary>
/// A bucket of <c>capacity</c> that refills continuously at <c>capacity / window</c>, so every
/// wait it predicts is exact: after waiting <see cref="TimeUntil"/> the amount is there.
/// Not thread-safe: <see cref="RateLimitBuckets"/> locks around each pair of buckets.
/// </summary>
public sealed class TokenBucket
{
    // Floating-point refill can land a hair under a whole token after waiting the exact time.
    private const double Tolerance = 1e-9;

    private readonly TimeProvider _time;
    private readonly double _windowMs;
    private long _lastRefill;

    public TokenBucket(int capacity, TimeSpan window, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        _time = time;
        Capacity = capacity;
        Available = capacity;
        _windowMs = window.TotalMilliseconds;
        _lastRefill = time.GetTimestamp();
    }

    public int Capacity { get; }

    /// <summary>Tokens in the bucket now (fractional while refilling).</summary>
    public double Available { get; private set; }

    /// <summary>Whole tokens left, as <c>x-ratelimit-remaining-*</c> reports them.</summary>
    public int Remaining => (int)Math.Floor(Available + Tolerance);

    public void Refill()
    {
        var now = _time.GetTimestamp();
        var elapsedMs = _time.GetElapsedTime(_lastRefill, now).TotalMilliseconds;
        Available = Math.Min(Capacity, Available + (elapsedMs * Capacity / _windowMs));
        _lastRefill = now;
    }

    public bool Has(double amount) => Available + Tolerance >= amount;

    public void Take(double amount) => Available = Math.Max(0, Available - amount);

    /// <summary>How long until <paramref name="amount"/> tokens are available (zero if they are now).</summary>
    public TimeSpan TimeUntil(double amount) =>
        Has(amount) ? TimeSpan.Zero : TimeSpan.FromMilliseconds((amount - Available) * _windowMs / Capacity);

    /// <summary>How long until the bucket is full again: what <c>x-ratelimit-reset-*</c> reports.</summary>
    public TimeSpan TimeUntilFull => TimeUntil(Capacity);

    /// <summary>A wait in whole milliseconds, rounded up (ignoring floating-point dust) so it is always enough.</summary>
    public static long CeilingMilliseconds(TimeSpan wait) => (long)Math.Ceiling(Math.Max(0, wait.TotalMilliseconds - 1e-6));
}
