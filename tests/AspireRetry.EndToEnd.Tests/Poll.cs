namespace AspireRetry.EndToEnd.Tests;

/// <summary>Waits for something the app does asynchronously (an export, a request), polling with a bound instead of sleeping.</summary>
public static class Poll
{
    public static async Task UntilAsync(TimeSpan timeout, TimeSpan interval, Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not met within {timeout.TotalSeconds:0} s");
            await Task.Delay(interval, TestContext.Current.CancellationToken);
        }
    }
}
