using Microsoft.Extensions.Time.Testing;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The retry budget's arithmetic over its sliding window, on a fake clock.</summary>
public sealed class RetryBudgetTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Retries_are_allowed_up_to_the_ratio_of_calls_plus_the_minimum_then_refused()
    {
        // 20% of 10 calls, plus 0.1 a second over 10 s: 3 retries.
        var budget = new RetryBudget(new RetryBudgetOptions { Ratio = 0.2, MinRetriesPerSecond = 0.1, Window = TimeSpan.FromSeconds(10) }, _time);
        for (var i = 0; i < 10; i++)
        {
            budget.RecordRequest();
        }

        Assert.True(budget.TryRetry());
        Assert.True(budget.TryRetry());
        Assert.True(budget.TryRetry());
        Assert.False(budget.TryRetry());
        Assert.Equal((10, 3, 3), budget.Snapshot());
    }

    [Fact]
    public void The_window_slides_so_old_calls_and_retries_are_forgotten()
    {
        var budget = new RetryBudget(new RetryBudgetOptions { Ratio = 0.5, MinRetriesPerSecond = 0, Window = TimeSpan.FromSeconds(10) }, _time);
        budget.RecordRequest();
        budget.RecordRequest();
        Assert.True(budget.TryRetry());
        Assert.False(budget.TryRetry());

        // Half the window later the old entries still count; a full window later they are gone.
        _time.Advance(TimeSpan.FromSeconds(5));
        budget.RecordRequest();
        budget.RecordRequest();
        Assert.True(budget.TryRetry());
        Assert.False(budget.TryRetry());

        _time.Advance(TimeSpan.FromSeconds(5.5));
        Assert.Equal((2, 1, 1), budget.Snapshot());
        Assert.False(budget.TryRetry());

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal((0, 0, 0), budget.Snapshot());
    }

    [Fact]
    public void During_an_outage_requests_per_call_fall_towards_one()
    {
        // Every attempt fails and each call would retry 4 times: 5 requests a call without a budget.
        var budget = new RetryBudget(new RetryBudgetOptions { Ratio = 0.2, MinRetriesPerSecond = 0.5, Window = TimeSpan.FromSeconds(10) }, _time);
        var requests = 0;
        const int calls = 200;
        for (var call = 0; call < calls; call++)
        {
            budget.RecordRequest();
            requests++;
            for (var retry = 0; retry < 4 && budget.TryRetry(); retry++)
            {
                requests++;
            }

            _time.Advance(TimeSpan.FromMilliseconds(20));
        }

        Assert.InRange((double)requests / calls, 1.0, 1.3);
    }
}

public sealed class RateLimitHeadersTests
{
    [Theory]
    [InlineData("20ms", 20)]
    [InlineData("1s", 1000)]
    [InlineData("1.5s", 1500)]
    [InlineData("6m0s", 360_000)]
    [InlineData("1h2m3.5s", 3_723_500)]
    [InlineData("0s", 0)]
    [InlineData("2", 2000)]
    public void OpenAIs_reset_durations_are_read(string text, double ms) =>
        Assert.Equal(ms, RateLimitHeaders.ParseDuration(text)!.Value.TotalMilliseconds, 3);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("5x")]
    public void Unreadable_durations_are_null(string? text) => Assert.Null(RateLimitHeaders.ParseDuration(text));

    [Fact]
    public void The_headers_give_each_dimension_and_its_refill_rate()
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK);
        response.Headers.Add("x-ratelimit-limit-requests", "60");
        response.Headers.Add("x-ratelimit-remaining-requests", "45");
        response.Headers.Add("x-ratelimit-reset-requests", "250ms");
        response.Headers.Add("x-ratelimit-limit-tokens", "30000");
        response.Headers.Add("x-ratelimit-remaining-tokens", "30000");
        response.Headers.Add("x-ratelimit-reset-tokens", "0s");

        var headers = RateLimitHeaders.Read(response);

        Assert.Equal(new RateLimitDimension(60, 45, TimeSpan.FromMilliseconds(250)), headers.Requests);
        Assert.Equal(15 / 250.0, headers.Requests!.RatePerMs!.Value, 9);
        Assert.Null(headers.Tokens!.RatePerMs);
        Assert.Equal(RateLimitHeaders.None, RateLimitHeaders.Read(new HttpResponseMessage()));
    }
}
