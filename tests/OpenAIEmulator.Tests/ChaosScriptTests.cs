using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>Scripted outcomes: exact, in order, per caller, and real on the wire.</summary>
public sealed class ChaosScriptTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Scripted_sequence_is_applied_in_order_and_counted()
    {
        var caller = NewCaller("sequence");
        await emulator.ScriptAsync(caller, "429:retry-after-ms=150", "503", "reset", "ok");
        using var http = emulator.CreateClient(caller);

        var statuses = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            try
            {
                using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
                statuses.Add(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }
            catch (HttpRequestException)
            {
                statuses.Add("reset");
            }
        }

        Assert.Equal(["429", "503", "reset", "200", "200"], statuses);
        var (total, byOutcome) = await emulator.CallerStatsAsync(caller);
        Assert.Equal(5, total);
        Assert.Equal(new Dictionary<string, int> { ["ok"] = 2, ["rate_limit"] = 1, ["reset"] = 1, ["service_unavailable"] = 1 }, byOutcome);

        var log = await emulator.RequestsAsync(caller);
        Assert.Equal(["rate_limit", "service_unavailable", "reset", "ok", "ok"], log.Select(r => r!["outcome"]!.GetValue<string>()));
        Assert.Equal([429, 503, null, 200, 200], log.Select(r => r!["statusCode"]?.GetValue<int>()));
        Assert.Equal([150L, 1000L, null, null, null], log.Select(r => r!["retryAfterMs"]?.GetValue<long>()));
        Assert.All(log, r => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r!["receivedAt"]!.GetValue<string>()));
        Assert.Empty((await emulator.GetJsonAsync($"emulator/chaos/script?caller={caller}"))["byCaller"]!.AsObject());
    }

    [Fact]
    public async Task Caller_scoped_scripts_do_not_leak_between_callers()
    {
        var alice = NewCaller("alice");
        var bob = NewCaller("bob");
        await emulator.ScriptAsync(alice, "500", "500");
        await emulator.ScriptAsync(bob, "502");
        using var aliceHttp = emulator.CreateClient(alice);
        using var bobHttp = emulator.CreateClient(bob);

        var sequence = new List<(string, int)>();
        foreach (var (name, http) in new[] { ("bob", bobHttp), ("alice", aliceHttp), ("bob", bobHttp), ("alice", aliceHttp), ("alice", aliceHttp) })
        {
            using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
            sequence.Add((name, (int)response.StatusCode));
        }

        Assert.Equal([("bob", 502), ("alice", 500), ("bob", 200), ("alice", 500), ("alice", 200)], sequence);
        Assert.Equal(3, (await emulator.CallerStatsAsync(alice)).Total);
        Assert.Equal(2, (await emulator.CallerStatsAsync(bob)).Total);
    }

    [Theory]
    [InlineData("400", 400, "bad_request", "invalid_request_error")]
    [InlineData("401", 401, "unauthorized", "invalid_request_error")]
    [InlineData("403", 403, "forbidden", "invalid_request_error")]
    [InlineData("404", 404, "not_found", "invalid_request_error")]
    [InlineData("408", 408, "request_timeout", "invalid_request_error")]
    [InlineData("409", 409, "conflict", "invalid_request_error")]
    [InlineData("422", 422, "unprocessable", "invalid_request_error")]
    [InlineData("quota", 429, "insufficient_quota", "insufficient_quota")]
    [InlineData("500", 500, "server_error", "server_error")]
    [InlineData("502", 502, "bad_gateway", "server_error")]
    [InlineData("504", 504, "gateway_timeout", "server_error")]
    public async Task Scripted_error_has_its_status_OpenAI_body_and_fault_name(string outcome, int status, string fault, string type)
    {
        var caller = NewCaller("kind");
        await emulator.ScriptAsync(caller, outcome);
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(type, (await ErrorOfAsync(response))["type"]!.GetValue<string>());
        Assert.False(HasHeader(response, "retry-after"));
        Assert.False(HasHeader(response, "retry-after-ms"));
        Assert.Equal([fault], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Scripted_429_without_options_sends_both_retry_headers_from_the_profile()
    {
        var caller = NewCaller("429-default");
        await emulator.ScriptAsync(caller, "429");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("1000", Header(response, "retry-after-ms"));
        Assert.Equal("1", Header(response, "retry-after"));
        var error = await ErrorOfAsync(response);
        Assert.Equal("rate_limit_exceeded", error["code"]!.GetValue<string>());
        Assert.Equal("requests", error["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Retry_after_options_send_exactly_the_header_form_asked_for()
    {
        var caller = NewCaller("retry-forms");
        await emulator.ScriptAsync(caller, "429:retry-after-ms=150", "429:retry-after=2", "503:retry-after-date=3", "503:retry-after-ms=1500,retry-after=2");
        using var http = emulator.CreateClient(caller);

        using var ms = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var seconds = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        var before = DateTimeOffset.UtcNow;
        using var date = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var both = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal("150", Header(ms, "retry-after-ms"));
        Assert.False(HasHeader(ms, "retry-after"));

        Assert.Equal("2", Header(seconds, "retry-after"));
        Assert.Equal(TimeSpan.FromSeconds(2), seconds.Headers.RetryAfter!.Delta);
        Assert.False(HasHeader(seconds, "retry-after-ms"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, date.StatusCode);
        var when = date.Headers.RetryAfter!.Date;
        Assert.NotNull(when);
        Assert.InRange((when.Value - before).TotalSeconds, 2.9, 4.1);
        Assert.False(HasHeader(date, "retry-after-ms"));

        Assert.Equal("1500", Header(both, "retry-after-ms"));
        Assert.Equal("2", Header(both, "retry-after"));

        var advised = (await emulator.RequestsAsync(caller)).Select(r => r!["retryAfterMs"]!.GetValue<long>()).ToList();
        Assert.Equal([150L, 2000L], advised[..2]);
        Assert.InRange(advised[2], 3000L, 4000L);
        Assert.Equal(1500L, advised[3]);
    }

    [Fact]
    public async Task X_ms_retry_after_ms_option_sends_azures_header_alone_or_beside_the_others()
    {
        var caller = NewCaller("x-ms");
        await emulator.ScriptAsync(caller, "429:x-ms-retry-after-ms=1500", "503:x-ms-retry-after-ms=800,retry-after-ms=800,retry-after=1");
        using var http = emulator.CreateClient(caller);

        using var alone = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var all = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, alone.StatusCode);
        Assert.Equal("1500", Header(alone, "x-ms-retry-after-ms"));
        Assert.False(HasHeader(alone, "retry-after-ms"));
        Assert.False(HasHeader(alone, "retry-after"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, all.StatusCode);
        Assert.Equal(("800", "800", "1"), (Header(all, "x-ms-retry-after-ms"), Header(all, "retry-after-ms"), Header(all, "retry-after")));
        Assert.Equal([1500L, 800L], (await emulator.RequestsAsync(caller)).Select(r => r!["retryAfterMs"]!.GetValue<long>()));
    }

    [Theory]
    [InlineData("503:should-retry=false", 503, "false")]
    [InlineData("409:should-retry=true", 409, "true")]
    [InlineData("429:retry-after-ms=50,should-retry=false", 429, "false")]
    [InlineData("quota:should-retry=true", 429, "true")]
    [InlineData("503", 503, null)]
    public async Task Should_retry_option_sends_x_should_retry_on_the_error_response(string outcome, int status, string? shouldRetry)
    {
        var caller = NewCaller("should-retry");
        await emulator.ScriptAsync(caller, outcome);
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(shouldRetry, response.Headers.TryGetValues("x-should-retry", out var values) ? Assert.Single(values) : null);
        Assert.NotNull((await ErrorOfAsync(response))["message"]);
    }

    [Fact]
    public async Task Reset_aborts_the_connection_without_a_response()
    {
        var caller = NewCaller("reset");
        await emulator.ScriptAsync(caller, "reset");
        using var http = emulator.CreateClient(caller);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync("v1/chat/completions", ChatBody(), Ct));

        Assert.Equal(1, (await emulator.CallerStatsAsync(caller)).ByOutcome["reset"]);
    }

    [Fact]
    public async Task Disconnect_cuts_a_stream_after_some_content_with_an_IOException()
    {
        var caller = NewCaller("disconnect");
        await emulator.ScriptAsync(caller, "disconnect:after=4");
        using var http = emulator.CreateClient(caller);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ChatBody(stream: true) };

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        var dataLines = new List<string>();
        var failure = await Record.ExceptionAsync(async () =>
        {
            while (await reader.ReadLineAsync(Ct) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    dataLines.Add(line);
                }
            }
        });

        Assert.IsAssignableFrom<IOException>(failure);
        Assert.Equal(4, dataLines.Count);
        Assert.DoesNotContain("data: [DONE]", dataLines);
        Assert.Contains("\"content\":\"You\"", dataLines[1]);
        Assert.Equal(["mid_stream_disconnect"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Disconnect_on_a_plain_request_resets_the_connection()
    {
        var caller = NewCaller("disconnect-plain");
        await emulator.ScriptAsync(caller, "disconnect");
        using var http = emulator.CreateClient(caller);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync("v1/chat/completions", ChatBody(), Ct));

        Assert.Equal(["reset"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Hang_sends_nothing_until_the_client_gives_up_and_is_still_counted()
    {
        var caller = NewCaller("hang");
        await emulator.ScriptAsync(caller, "hang");
        using var http = emulator.CreateClient(caller);
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        giveUp.CancelAfter(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => http.PostAsync("v1/chat/completions", ChatBody(), giveUp.Token));

        Assert.InRange(clock.ElapsedMilliseconds, 180, 5000);
        await EventuallyAsync(async () => (await emulator.CallerStatsAsync(caller)).ByOutcome.GetValueOrDefault("hang") == 1, "the hang to be counted");
        Assert.Equal([null], (await emulator.RequestsAsync(caller)).Select(r => r!["statusCode"]));
    }

    [Fact]
    public async Task Bounded_hang_aborts_the_connection_when_it_ends()
    {
        var caller = NewCaller("hang-bounded");
        await emulator.ScriptAsync(caller, "hang:ms=150");
        using var http = emulator.CreateClient(caller);
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync("v1/chat/completions", ChatBody(), Ct));

        Assert.True(clock.ElapsedMilliseconds >= 140, $"hung only {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Slow_first_token_delays_the_response_headers_and_first_chunk()
    {
        var caller = NewCaller("slow-first");
        await emulator.ScriptAsync(caller, "slow-first-token:ms=300");
        using var http = emulator.CreateClient(caller);
        var clock = Stopwatch.StartNew();

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ChatBody(stream: true) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var headersAfter = clock.ElapsedMilliseconds;
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.True(headersAfter >= 290, $"headers after {headersAfter} ms");
        Assert.EndsWith("data: [DONE]\n\n", body);
        Assert.Equal(["slow_first_token"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Slow_stream_paces_tokens_at_the_scripted_rate()
    {
        var caller = NewCaller("slow-stream");
        await emulator.ScriptAsync(caller, "slow-stream:tps=50");
        using var http = emulator.CreateClient(caller);
        var clock = Stopwatch.StartNew();

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(stream: true, maxTokens: 11), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        // 11 tokens at 50 per second: 10 gaps of 20 ms after the first token.
        Assert.True(clock.ElapsedMilliseconds >= 190, $"streamed in {clock.ElapsedMilliseconds} ms");
        Assert.EndsWith("data: [DONE]\n\n", body);
    }

    [Fact]
    public async Task Script_can_be_inspected_and_cleared_per_caller()
    {
        var keep = NewCaller("keep");
        var drop = NewCaller("drop");
        await emulator.ScriptAsync(keep, "500", "ok");
        await emulator.ScriptAsync(drop, "502");

        using var cleared = await emulator.Http.DeleteAsync($"emulator/chaos/script?caller={drop}", Ct);
        var remaining = await emulator.GetJsonAsync("emulator/chaos/script");

        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        Assert.Equal(["500", "ok"], remaining["byCaller"]![keep]!.AsArray().Select(o => o!.GetValue<string>()));
        Assert.Null(remaining["byCaller"]![drop]);
        using var http = emulator.CreateClient(drop);
        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("""{"outcomes":["429","teapot"]}""", "outcomes[1]", "teapot")]
    [InlineData("""{"outcomes":["429:retry-after-secs=1"]}""", "outcomes[0]", "retry-after-secs")]
    [InlineData("""{"outcomes":["hang:ms=-5"]}""", "outcomes[0]", "ms")]
    [InlineData("""{"outcomes":["500:ms=5"]}""", "outcomes[0]", "500")]
    [InlineData("""{"outcomes":["500:x-ms-retry-after-ms=5"]}""", "outcomes[0]", "x-ms-retry-after-ms")]
    [InlineData("""{"outcomes":["503:should-retry=maybe"]}""", "outcomes[0]", "true or false")]
    [InlineData("""{"outcomes":["ok:should-retry=true"]}""", "outcomes[0]", "should-retry")]
    [InlineData("""{"outcomes":[]}""", "outcomes", "outcomes")]
    [InlineData("""{"outcomes":[42]}""", "outcomes[0]", "string")]
    [InlineData("""{"outcomes":["ok"],"who":"x"}""", "who", "who")]
    public async Task Invalid_script_gets_400_naming_the_bad_entry_and_queues_nothing(string json, string param, string mentioned)
    {
        var caller = NewCaller("bad-script");
        var body = JsonNode.Parse(json)!.AsObject();
        if (!body.ContainsKey("who"))
        {
            body["caller"] = caller;
        }

        using var response = await emulator.Http.PostAsync("emulator/chaos/script", Json(body.ToJsonString()), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Contains(mentioned, error["message"]!.GetValue<string>());
        if (param.StartsWith("outcomes", StringComparison.Ordinal))
        {
            Assert.Contains("disconnect", error["message"]!.GetValue<string>());
        }

        Assert.Null((await emulator.GetJsonAsync($"emulator/chaos/script?caller={caller}"))["byCaller"]![caller]);
    }

    [Fact]
    public async Task Post_script_shows_the_queue_it_appended_to()
    {
        var caller = NewCaller("append");

        using var first = await emulator.Http.PostAsJsonAsync("emulator/chaos/script", new { outcomes = new[] { "500" }, caller }, Ct);
        using var second = await emulator.Http.PostAsJsonAsync("emulator/chaos/script", new { outcomes = new[] { "slow-stream:tps=5" }, caller }, Ct);
        var queue = JsonNode.Parse(await second.Content.ReadAsStringAsync(Ct))!;

        Assert.Equal(["500", "slow-stream:tps=5"], queue["byCaller"]![caller]!.AsArray().Select(o => o!.GetValue<string>()));
        await emulator.Http.DeleteAsync($"emulator/chaos/script?caller={caller}", Ct);
    }
}
