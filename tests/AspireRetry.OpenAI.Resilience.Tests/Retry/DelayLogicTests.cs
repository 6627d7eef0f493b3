using System.Net;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The wait and retry decisions, on a fake clock: no wall-clock sleeps.</summary>
public sealed class DelayLogicTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static HttpResponseMessage Response(HttpStatusCode status, string? retryAfterMs = null, string? retryAfter = null, string? body = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body ?? "") };
        if (retryAfterMs is not null) response.Headers.TryAddWithoutValidation("retry-after-ms", retryAfterMs);
        if (retryAfter is not null) response.Headers.TryAddWithoutValidation("retry-after", retryAfter);
        return response;
    }

    [Fact]
    public void Retry_after_ms_wins_over_retry_after()
    {
        using var response = Response(HttpStatusCode.TooManyRequests, retryAfterMs: "150", retryAfter: "2");
        Assert.Equal(TimeSpan.FromMilliseconds(150), UpstreamOutcome.ServerDelay(response, Now));
    }

    [Fact]
    public void Azures_x_ms_retry_after_ms_is_read_after_retry_after_ms_and_before_retry_after()
    {
        using var azure = Response(HttpStatusCode.TooManyRequests, retryAfter: "2");
        azure.Headers.TryAddWithoutValidation("x-ms-retry-after-ms", "350");
        using var both = Response(HttpStatusCode.TooManyRequests, retryAfterMs: "150");
        both.Headers.TryAddWithoutValidation("x-ms-retry-after-ms", "350");

        Assert.Equal(TimeSpan.FromMilliseconds(350), UpstreamOutcome.ServerDelay(azure, Now));
        Assert.Equal(TimeSpan.FromMilliseconds(150), UpstreamOutcome.ServerDelay(both, Now));
        Assert.Equal(TimeSpan.FromMilliseconds(350), UpstreamOutcome.ServerDelay(null, "350", "2", Now));
    }

    [Theory]
    [InlineData("-1", "-1")]
    [InlineData("0", "0")]
    [InlineData("100", "-1")]
    public void Placeholder_rate_limit_headers_are_ignored_never_obeyed(string limit, string remaining)
    {
        // Azure's Responses API has sent -1 and 0 where it knows no limit: read as a limit, they would stop every call.
        using var response = Response(HttpStatusCode.OK);
        response.Headers.TryAddWithoutValidation("x-ratelimit-limit-requests", limit);
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-requests", remaining);
        response.Headers.TryAddWithoutValidation("x-ratelimit-limit-tokens", limit);
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-tokens", remaining);

        Assert.Equal(RateLimitHeaders.None, RateLimitHeaders.Read(response));
    }

    [Theory]
    [InlineData("-1", null)]
    [InlineData("0", null)]
    [InlineData("57", 57L)]
    public void Remaining_only_counts_are_kept_for_the_gate_and_their_placeholders_ignored(string remaining, long? kept)
    {
        // Azure sends what remains without the limit or the reset; -1 and 0 where it knows no limit.
        using var response = Response(HttpStatusCode.OK);
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-requests", remaining);
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-tokens", remaining);

        var headers = RateLimitHeaders.Read(response);

        Assert.Equal((null, null, kept, kept), (headers.Requests, headers.Tokens, headers.RequestsRemaining, headers.TokensRemaining));
    }

    [Fact]
    public void Retry_after_in_seconds_and_as_an_http_date_are_both_read()
    {
        using var seconds = Response(HttpStatusCode.TooManyRequests, retryAfter: "2");
        using var date = Response(HttpStatusCode.ServiceUnavailable, retryAfter: Now.AddSeconds(7).ToString("r"));
        using var past = Response(HttpStatusCode.ServiceUnavailable, retryAfter: Now.AddSeconds(-7).ToString("r"));
        using var none = Response(HttpStatusCode.ServiceUnavailable);

        Assert.Equal(TimeSpan.FromSeconds(2), UpstreamOutcome.ServerDelay(seconds, Now));
        Assert.Equal(TimeSpan.FromSeconds(7), UpstreamOutcome.ServerDelay(date, Now));
        Assert.Equal(TimeSpan.Zero, UpstreamOutcome.ServerDelay(past, Now));
        Assert.Null(UpstreamOutcome.ServerDelay(none, Now));
    }

    [Theory]
    [InlineData("""{"error":{"message":"x","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}""", "insufficient_quota")]
    [InlineData("""{"error":{"message":"x","type":"requests","param":null,"code":"rate_limit_exceeded"}}""", "rate_limit_exceeded")]
    [InlineData("""{"error":{"message":"x","type":"insufficient_quota","param":null,"code":null}}""", "insufficient_quota")]
    [InlineData("<html>bad gateway</html>", null)]
    public void The_openai_error_code_is_read_from_the_body(string body, string? code) =>
        Assert.Equal(code, UpstreamOutcome.ParseErrorCode(body));

    [Fact]
    public async Task The_pipeline_waits_the_servers_retry_after_ms_plus_the_safety_margin_on_the_clock()
    {
        var time = new FakeTimeProvider(Now);
        var options = new ResilienceOptions { BaseDelay = TimeSpan.FromSeconds(10), TotalTimeout = TimeSpan.FromMinutes(1) };
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(RetryStrategy.Options(options, time))
            .Build();
        var calls = 0;

        var execution = pipeline.ExecuteAsync(_ => ValueTask.FromResult(++calls == 1
            ? Response(HttpStatusCode.TooManyRequests, retryAfterMs: "150", body: """{"error":{"code":"rate_limit_exceeded"}}""")
            : Response(HttpStatusCode.OK)), TestContext.Current.CancellationToken).AsTask();

        await WaitUntilAsync(() => calls == 1);
        time.Advance(TimeSpan.FromMilliseconds(149) + OpenAIResilience.ServerDelayMargin);
        Assert.Equal(1, calls);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await execution.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);

        Assert.Equal(2, calls);
        Assert.Equal(HttpStatusCode.OK, result.StatusCode);
    }

    [Fact]
    public async Task Without_a_server_wait_the_backoff_grows_exponentially_from_the_base_delay()
    {
        var time = new FakeTimeProvider(Now);
        var options = new ResilienceOptions { BaseDelay = TimeSpan.FromSeconds(1), UseJitter = false, MaxRetryAttempts = 3 };
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(RetryStrategy.Options(options, time))
            .Build();
        var calls = 0;

        var execution = pipeline.ExecuteAsync(_ => ValueTask.FromResult(Response(++calls < 4 ? HttpStatusCode.BadGateway : HttpStatusCode.OK)),
            TestContext.Current.CancellationToken).AsTask();

        // 1 s, then 2 s, then 4 s: the recipe's 1, 2, 4 schedule, but only for errors worth retrying.
        await AssertRetriesAfterAsync(time, () => calls, execution, 1000, 2000, 4000);
    }

    [Fact]
    public async Task A_fast_5xx_is_retried_almost_at_once_then_backs_off_from_half_the_base_delay()
    {
        var time = new FakeTimeProvider(Now);
        var options = new ResilienceOptions { BaseDelay = TimeSpan.FromSeconds(1), UseJitter = false, MaxRetryAttempts = 3 };
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(RetryStrategy.Options(options, time))
            .AddTimeout(PipelineTimeouts.Attempt(options, time))
            .Build();
        var calls = 0;

        // Each 502 comes back at once (no time passes on the fake clock).
        var execution = pipeline.ExecuteAsync(_ => ValueTask.FromResult(Response(++calls < 4 ? HttpStatusCode.BadGateway : HttpStatusCode.OK)),
            TestContext.Current.CancellationToken).AsTask();

        // The shortest fast retry, then 0.5 s and 1 s: not the 1, 2, 4 s of a slow failure.
        await AssertRetriesAfterAsync(time, () => calls, execution, RetryDelays.MinFastDelay.TotalMilliseconds, 500, 1000);
    }

    [Theory]
    [InlineData(40, 40)]    // as long as the failure took
    [InlineData(2, 10)]     // at least MinFastDelay
    [InlineData(999, 999)]  // just under BaseDelay: still fast
    public void The_first_retry_after_a_fast_5xx_waits_about_as_long_as_the_failure_took(int tookMs, int expectedMs)
    {
        var time = new FakeTimeProvider(Now);
        var context = AttemptThatTook(time, tookMs);
        using var response = Response(HttpStatusCode.ServiceUnavailable);

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs),
            RetryDelays.Next(Outcome.FromResult(response), context, 0, new ResilienceOptions { UseJitter = false }, time));
        var jittered = RetryDelays.Next(Outcome.FromResult(response), context, 0, new ResilienceOptions(), time)!.Value;
        Assert.InRange(jittered.TotalMilliseconds, expectedMs * 0.5, expectedMs * 1.5);
        ResilienceContextPool.Shared.Return(context);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, 1000)] // a slow failure: the usual backoff
    [InlineData(HttpStatusCode.TooManyRequests, 5)]       // a 429 without a wait is not a fast 5xx
    [InlineData(HttpStatusCode.RequestTimeout, 5)]
    public void Slow_failures_and_other_statuses_keep_pollys_exponential_backoff(HttpStatusCode status, int tookMs)
    {
        var time = new FakeTimeProvider(Now);
        var context = AttemptThatTook(time, tookMs);
        using var response = Response(status);

        Assert.Null(RetryDelays.Next(Outcome.FromResult(response), context, 0, new ResilienceOptions(), time));
        Assert.Null(RetryDelays.Next(Outcome.FromResult(response), context, 1, new ResilienceOptions(), time));
        ResilienceContextPool.Shared.Return(context);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, "false", "", false)]
    [InlineData(HttpStatusCode.InternalServerError, "false", "", false)]
    [InlineData(HttpStatusCode.TooManyRequests, "false", """{"error":{"type":"requests","code":"rate_limit_exceeded"}}""", false)]
    [InlineData(HttpStatusCode.Conflict, "true", "", true)]
    [InlineData(HttpStatusCode.BadRequest, "true", "", true)]
    [InlineData(HttpStatusCode.TooManyRequests, "true", """{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}""", true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, "TRUE", "", true)]
    [InlineData(HttpStatusCode.Conflict, "maybe", "", false)]
    [InlineData(HttpStatusCode.ServiceUnavailable, "maybe", "", true)]
    [InlineData(HttpStatusCode.OK, "true", "", false)]
    public async Task X_should_retry_wins_over_the_status(HttpStatusCode status, string shouldRetry, string body, bool retried)
    {
        var time = new FakeTimeProvider(Now);
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        using var response = Response(status, body: body);
        response.Headers.TryAddWithoutValidation("x-should-retry", shouldRetry);
        var progress = new CallProgress("gpt-4o");

        using (progress.Enter())
        {
            Assert.Equal(retried, await RetryPredicate.ShouldRetryAsync(Outcome.FromResult(response), context, new ResilienceOptions(), time));
        }

        // A "false" that stopped a retry the status allowed says so to the caller.
        Assert.Equal(shouldRetry == "false", progress.StopReason?.Contains("x-should-retry: false", StringComparison.Ordinal) == true);
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public async Task A_server_wait_longer_than_what_is_left_of_the_budget_is_not_retried()
    {
        var time = new FakeTimeProvider(Now);
        var options = new ResilienceOptions { TotalTimeout = TimeSpan.FromSeconds(10), MaxServerDelay = TimeSpan.FromSeconds(60) };
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        CallClock.Start(context, time);
        using var response = Response(HttpStatusCode.TooManyRequests, retryAfter: "4", body: """{"error":{"code":"rate_limit_exceeded"}}""");

        Assert.True(await RetryPredicate.ShouldRetryAsync(Outcome.FromResult(response), context, options, time));
        time.Advance(TimeSpan.FromSeconds(7)); // 3 s left: a 4 s wait no longer fits
        Assert.False(await RetryPredicate.ShouldRetryAsync(Outcome.FromResult(response), context, options, time));
        ResilienceContextPool.Shared.Return(context);
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, """{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}""", false)]
    [InlineData(HttpStatusCode.TooManyRequests, """{"error":{"type":"requests","code":"rate_limit_exceeded"}}""", true)]
    [InlineData(HttpStatusCode.BadRequest, "", false)]
    [InlineData(HttpStatusCode.Unauthorized, "", false)]
    [InlineData(HttpStatusCode.Forbidden, "", false)]
    [InlineData(HttpStatusCode.NotFound, "", false)]
    [InlineData(HttpStatusCode.Conflict, "", false)]
    [InlineData(HttpStatusCode.UnprocessableEntity, "", false)]
    [InlineData(HttpStatusCode.RequestTimeout, "", true)]
    [InlineData(HttpStatusCode.InternalServerError, "", true)]
    [InlineData(HttpStatusCode.BadGateway, "", true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, "", true)]
    [InlineData(HttpStatusCode.GatewayTimeout, "", true)]
    public async Task Only_transient_statuses_are_retried(HttpStatusCode status, string body, bool retried)
    {
        var time = new FakeTimeProvider(Now);
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        using var response = Response(status, body: body);

        Assert.Equal(retried, await RetryPredicate.ShouldRetryAsync(Outcome.FromResult(response), context, new ResilienceOptions(), time));
        // The decision read the body without consuming it: the SDK can still read it for the caller.
        Assert.Equal(body, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        ResilienceContextPool.Shared.Return(context);
    }

    /// <summary>
    /// Each retry comes exactly <paramref name="waitsMs"/> after the attempt before it (not a millisecond sooner), and the
    /// call then succeeds.
    /// </summary>
    private static async Task AssertRetriesAfterAsync(FakeTimeProvider time, Func<int> calls, Task<HttpResponseMessage> execution, params double[] waitsMs)
    {
        for (var i = 0; i < waitsMs.Length; i++)
        {
            var before = i + 1;
            await WaitUntilAsync(() => calls() == before);
            time.Advance(TimeSpan.FromMilliseconds(waitsMs[i] - 1));
            Assert.Equal(before, calls());
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal(HttpStatusCode.OK, (await execution.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken)).StatusCode);
    }

    /// <summary>A call's context whose current attempt has taken <paramref name="ms"/> on the fake clock.</summary>
    private static ResilienceContext AttemptThatTook(FakeTimeProvider time, int ms)
    {
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        AttemptClock.Start(context, time);
        time.Advance(TimeSpan.FromMilliseconds(ms));
        return context;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 5 s");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}
