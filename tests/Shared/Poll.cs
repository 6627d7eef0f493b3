namespace AspireRetry.Tests.Shared;

/// <summary>
/// Waits for something that happens asynchronously (a request the upstream logs, a key in Redis, a span the dashboard
/// exports), polling with a bound instead of sleeping. The bound only decides how long a failing test takes to say so;
/// a passing one returns as soon as the thing is seen.
/// </summary>
public static class Poll
{
    /// <summary>
    /// Generous: test assemblies run beside each other (and the end-to-end tests) on 2 cores, where a burst once took more
    /// than 15 s to reach the emulator.
    /// </summary>
    public static readonly TimeSpan DefaultBound = TimeSpan.FromSeconds(60);

    /// <summary>Often enough that a test waits little past the moment, rarely enough to leave the machine to the code under test.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Asks <paramref name="probe"/> until it finds something (neither null nor false) and returns it; fails the test
    /// naming <paramref name="what"/> when nothing is found within <paramref name="bound"/>.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, string what, TimeSpan? bound = null, TimeSpan? interval = null)
    {
        var limit = bound ?? DefaultBound;
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (await probe() is { } found && !Equals(found, false))
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{what}: not seen within {limit.TotalSeconds:0.#} s");
            await Task.Delay(interval ?? DefaultInterval, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>As above, for a probe that needs no awaiting (state in this process).</summary>
    public static Task<T> UntilAsync<T>(Func<T?> probe, string what, TimeSpan? bound = null, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(probe()), what, bound, interval);

    /// <summary>Waits until <paramref name="condition"/> holds, asking every <paramref name="interval"/> for at most <paramref name="timeout"/>.</summary>
    public static Task UntilAsync(TimeSpan timeout, TimeSpan interval, Func<Task<bool>> condition) =>
        UntilAsync(condition, "condition", timeout, interval);
}
