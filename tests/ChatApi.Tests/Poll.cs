namespace AspireRetry.ChatApi.Tests;

/// <summary>Waits for something another process does (a request the emulator logs, a key in Redis), polling with a bound instead of sleeping.</summary>
public static class Poll
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

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
