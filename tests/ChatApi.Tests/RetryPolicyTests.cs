using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.ChatApi.Tests;

/// <summary>The one retry layer, seen from outside: what the upstream receives and what the caller gets.</summary>
public sealed class RetryPolicyTests(ChatApiFixture fixture)
{
    private const int MaxAttempts = 4; // MaxRetryAttempts = 3 in the test policy
    private readonly string _caller = $"policy-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(HttpResponseMessage Response, JsonElement Body)> ChatAsync(string text = "Hello")
    {
        var response = await fixture.ClientFor(_caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body(text), Ct);
        return (response, await response.Content.ReadFromJsonAsync<JsonElement>(Ct));
    }

    /// <summary>
    /// A streamed call, so the caller hears the wait the layer scheduled (the attempt event's delayMs), and what
    /// the upstream saw. Waits are judged by those two facts, not by how soon the retry came on a busy machine:
    /// the scheduled wait must be the server's (plus the margin), and the retry must not arrive before it.
    /// </summary>
    private async Task<(long ScheduledMs, List<SeenRequest> Seen)> RetriedOnceAsync()
    {
        var events = await fixture.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);
        Assert.Equal("done", events[^1].Type);
        Assert.Equal(2, events[^1].Data.GetProperty("attempts").GetInt32());
        var first = events.First(e => e.Type == "attempt").Data;
        var seen = await fixture.SeenAsync(_caller);
        Assert.Equal(2, seen.Count);
        return (first.GetProperty("delayMs").GetInt64(), seen);
    }

    private static double GapMs(List<SeenRequest> seen) => (seen[1].ReceivedAt - seen[0].ReceivedAt).TotalMilliseconds;

    private static readonly double Margin = OpenAIResilience.ServerDelayMargin.TotalMilliseconds;

    [Fact]
    public async Task Rate_limited_call_waits_retry_after_ms_then_succeeds()
    {
        await fixture.ScriptAsync(_caller, "429:retry-after-ms=150", "ok");

        var (scheduledMs, seen) = await RetriedOnceAsync();

        Assert.Equal(150 + Margin, scheduledMs);
        Assert.True(GapMs(seen) >= 150 - 1, $"the retry came {GapMs(seen)} ms after the 429, before its 150 ms"); // - 1: the log rounds to the millisecond
    }

    [Fact]
    public async Task Rate_limited_call_honours_retry_after_in_seconds()
    {
        await fixture.ScriptAsync(_caller, "429:retry-after=1", "ok");

        var (scheduledMs, seen) = await RetriedOnceAsync();

        Assert.Equal(1000 + Margin, scheduledMs);
        Assert.True(GapMs(seen) >= 1000 - 1, $"the retry came {GapMs(seen)} ms after the 429, before its 1 s");
    }

    [Fact]
    public async Task Rate_limited_call_honours_retry_after_as_an_http_date()
    {
        await fixture.ScriptAsync(_caller, "429:retry-after-date=1", "ok");

        var (scheduledMs, seen) = await RetriedOnceAsync();

        // The date has whole-second precision; the emulator logs the exact wait it named (from its receipt of
        // the request). The layer's wait runs from when it read the date, a little later, so it is at most that
        // plus the margin; and the retry must come after the named moment.
        var told = Assert.IsType<long>(seen[0].RetryAfterMs);
        Assert.InRange(scheduledMs, 1, told + Margin + 1);
        Assert.True(GapMs(seen) >= told - 1, $"the retry came {GapMs(seen)} ms after the 429, before the {told} ms its date named");
    }

    [Theory]
    [InlineData("500", "server_error")]
    [InlineData("502", "bad_gateway")]
    [InlineData("503", "service_unavailable")]
    [InlineData("504", "gateway_timeout")]
    [InlineData("408", "request_timeout")]
    [InlineData("429:retry-after-ms=20", "rate_limit")]
    [InlineData("reset", "reset")]
    [InlineData("hang", "hang")]
    public async Task A_transient_failure_is_retried_then_succeeds(string outcome, string fault)
    {
        await fixture.ScriptAsync(_caller, outcome, "ok");

        var (response, body) = await ChatAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, body.GetProperty("attempts").GetInt32());
        Assert.Equal([fault, "ok"], (await fixture.SeenAsync(_caller)).Select(r => r.Outcome));
    }

    [Theory]
    [InlineData("400", 502, "Upstream rejected the request")]
    [InlineData("401", 502, "Upstream rejected the API key")]
    [InlineData("404", 502, "Upstream rejected the request")]
    [InlineData("quota", 502, "Upstream quota exhausted")]
    public async Task A_non_transient_failure_is_not_retried_and_the_caller_is_told_why(string outcome, int status, string title)
    {
        await fixture.ScriptAsync(_caller, outcome, "ok");

        var (response, body) = await ChatAsync();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(title, body.GetProperty("title").GetString());
        Assert.Equal(1, body.GetProperty("attempts").GetInt32());
        Assert.Single(await fixture.SeenAsync(_caller));
        Assert.DoesNotContain(ChatApiFixture.ApiKey, body.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("503:should-retry=false", 503)]
    [InlineData("429:retry-after-ms=20,should-retry=false", 429)]
    [InlineData("500:should-retry=false", 503)]
    public async Task X_should_retry_false_is_obeyed_even_for_a_retryable_status(string outcome, int status)
    {
        await fixture.ScriptAsync(_caller, outcome, "ok");

        var (response, body) = await ChatAsync();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(1, body.GetProperty("attempts").GetInt32());
        Assert.Single(await fixture.SeenAsync(_caller));
        Assert.Contains("x-should-retry: false", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("409:should-retry=true", "conflict")]
    [InlineData("400:should-retry=true", "bad_request")]
    [InlineData("quota:should-retry=true", "insufficient_quota")]
    public async Task X_should_retry_true_makes_an_otherwise_final_status_retryable(string outcome, string fault)
    {
        await fixture.ScriptAsync(_caller, outcome, "ok");

        var (response, body) = await ChatAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, body.GetProperty("attempts").GetInt32());
        Assert.Equal([fault, "ok"], (await fixture.SeenAsync(_caller)).Select(r => r.Outcome));
    }

    [Fact]
    public async Task X_should_retry_true_is_still_bounded_by_max_retry_attempts()
    {
        await fixture.ScriptAsync(_caller, [.. Enumerable.Repeat("409:should-retry=true", MaxAttempts + 2)]);

        var (response, body) = await ChatAsync();

        Assert.False(response.IsSuccessStatusCode);
        Assert.Equal(MaxAttempts, body.GetProperty("attempts").GetInt32());
        Assert.Equal(MaxAttempts, (await fixture.SeenAsync(_caller)).Count);
        // It was retried, so the caller is not told that it is not retried.
        Assert.Equal($"The model provider answered 409 (conflict) to each of {MaxAttempts} attempt(s).", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_permanently_failing_upstream_sees_exactly_max_retries_plus_one_requests()
    {
        await fixture.ScriptAsync(_caller, [.. Enumerable.Repeat("503", MaxAttempts + 2)]);

        var (response, body) = await ChatAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MaxAttempts, body.GetProperty("attempts").GetInt32());
        Assert.Equal(MaxAttempts, (await fixture.SeenAsync(_caller)).Count);
    }

    [Fact]
    public async Task A_server_wait_beyond_the_budget_fails_at_once_and_passes_the_wait_on()
    {
        await fixture.ScriptAsync(_caller, "429:retry-after=30", "ok");
        var started = DateTimeOffset.UtcNow;

        var (response, body) = await ChatAsync();

        // Sleeping towards the wait would have run into the 6 s TotalTimeout (a 504), not this 429.
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(6), "the call must not sleep towards the 30 s wait");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(30), response.Headers.RetryAfter?.Delta);
        Assert.Equal(30_000, body.GetProperty("retryAfterMs").GetInt64());
        Assert.Contains("MaxServerDelay", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task Cancelling_during_a_backoff_sends_no_further_request()
    {
        // On real sockets (Kestrel), so closing the connection reaches ChatApi as a browser tab's would.
        // A dynamic port, named in the settings: UseKestrel(0) on a WithWebHostBuilder factory still binds
        // the default localhost:5000, which other test runs on the same machine may hold.
        await using var api = fixture.CreateApi(new Dictionary<string, string?> { ["urls"] = "http://127.0.0.1:0" });
        api.UseKestrel(0);
        api.StartServer();
        // A backoff long enough that a CPU-starved test run (the whole suite in parallel on 2 cores) still
        // sees the closed connection before it ends; at 1 s the retry sometimes went out first.
        await fixture.ScriptAsync(_caller, "503:retry-after-ms=2500", "ok");
        var delayMs = await ReadFirstAttemptDelayThenCloseAsync(ChatApiFixture.ClientFor(api, _caller));

        Assert.Equal(2500 + OpenAIResilience.ServerDelayMargin.TotalMilliseconds, delayMs);
        // Negative evidence needs the moment the retry would have happened to pass: wait it out, bounded.
        await Task.Delay(TimeSpan.FromMilliseconds(delayMs + 300), Ct);
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    /// <summary>
    /// Starts a stream and, once its first attempt event arrives, cancels the read that is waiting for
    /// more, as the page's Stop button does: a cancelled pending read aborts the connection.
    /// </summary>
    private static async Task<long> ReadFirstAttemptDelayThenCloseAsync(HttpClient client)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/chat/stream") { Content = JsonContent.Create(ChatApiCalls.Body("Hello")) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        await using var stream = await response.Content.ReadAsStreamAsync(cancel.Token);
        long? delayMs = null;
        try
        {
            await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(stream).EnumerateAsync(cancel.Token))
            {
                if (item.EventType == "attempt" && delayMs is null)
                {
                    delayMs = JsonDocument.Parse(item.Data).RootElement.GetProperty("delayMs").GetInt64();
                    cancel.CancelAfter(TimeSpan.FromMilliseconds(50));
                }
            }
        }
        catch (OperationCanceledException) when (delayMs is not null)
        {
            return delayMs.Value;
        }

        throw new Xunit.Sdk.XunitException("the stream ended on its own instead of being stopped during the backoff");
    }
}
