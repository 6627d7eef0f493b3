namespace AspireRetry.ChatApi.Tests;

/// <summary>Waits for something another process does (a request the emulator logs, a key in Redis), polling with a bound instead of sleeping.</summary>
public static class Poll
{
    // Generous: it only bounds a failure, and CI runs this assembly beside the end-to-end tests on 2 cores (a burst once
    // took more than 15 s to reach the emulator there).
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            if (await probe() is { } found && !Equals(found, false))
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{what}: not seen within {Bound.TotalSeconds:0} s");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
