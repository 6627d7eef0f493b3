using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>Token-bucket mode on a real clock, with windows short enough to wait out.</summary>
public sealed class RateLimitModeTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await emulator.Http.DeleteAsync("emulator/chaos", CancellationToken.None);

    [Fact]
    public async Task Burst_beyond_the_request_bucket_is_rejected_exactly_with_real_429s()
    {
        // A minute-long window refills one request per 12 s, so nothing refills during the burst.
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":5,"tokensPerWindow":1000000,"windowMs":60000}}""");
        var caller = NewCaller("burst");
        using var http = emulator.CreateClient(caller);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => http.PostAsync("v1/chat/completions", ChatBody(), Ct)));

        var admitted = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(5, admitted.Count);
        Assert.Equal(15, rejected.Count);
        Assert.Equal(["0", "1", "2", "3", "4"], admitted.Select(r => Header(r, "x-ratelimit-remaining-requests")).Order());
        foreach (var response in rejected)
        {
            var error = await ErrorOfAsync(response);
            Assert.Equal("rate_limit_exceeded", error["code"]!.GetValue<string>());
            Assert.Equal("requests", error["type"]!.GetValue<string>());
            var waitMs = long.Parse(Header(response, "retry-after-ms"), CultureInfo.InvariantCulture);
            Assert.InRange(waitMs, 1, 12_000);
            Assert.Equal(((waitMs + 999) / 1000).ToString(CultureInfo.InvariantCulture), Header(response, "retry-after"));
            Assert.Equal("0", Header(response, "x-ratelimit-remaining-requests"));
            Assert.Equal("5", Header(response, "x-ratelimit-limit-requests"));
        }

        var (_, byOutcome) = await emulator.CallerStatsAsync(caller);
        Assert.Equal(new Dictionary<string, int> { ["ok"] = 5, ["rate_limited_by_bucket"] = 15 }, byOutcome);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Buckets_that_publish_no_headers_still_refuse_with_the_exact_wait_but_no_x_ratelimit_headers()
    {
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":2,"tokensPerWindow":1000000,"windowMs":60000,"publishHeaders":false}}""");
        var caller = NewCaller("unpublished");
        using var http = emulator.CreateClient(caller);

        var responses = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => http.PostAsync("v1/chat/completions", ChatBody(), Ct)));

        Assert.Equal(2, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(3, rejected.Count);
        Assert.All(rejected, r => Assert.InRange(long.Parse(Header(r, "retry-after-ms"), CultureInfo.InvariantCulture), 1, 60_000));
        Assert.All(responses, r => Assert.DoesNotContain(r.Headers, h => h.Key.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase)));
        Assert.Equal("false", (await emulator.GetJsonAsync("emulator/chaos"))["rateLimiter"]!["publishHeaders"]!.ToJsonString());
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Waiting_the_advised_retry_after_ms_is_enough_to_be_admitted()
    {
        // Two requests per 600 ms: one request is regained every 300 ms.
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":2,"tokensPerWindow":1000000,"windowMs":600}}""");
        var caller = NewCaller("wait");
        using var http = emulator.CreateClient(caller);

        using var first = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var second = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var limited = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], new[] { first.StatusCode, second.StatusCode, limited.StatusCode });

        var waitMs = long.Parse(Header(limited, "retry-after-ms"), CultureInfo.InvariantCulture);
        Assert.InRange(waitMs, 1, 300);
        Assert.True(waitMs <= ParseDurationMs(Header(limited, "x-ratelimit-reset-requests")), "one request is regained no later than the whole bucket");

        // Plus 10 ms, as a careful client adds (the retry library does): a timer may fire a millisecond early and the
        // advice is rounded to the millisecond; on a busy CI machine the bare wait once came back 429.
        await Task.Delay(TimeSpan.FromMilliseconds(waitMs + 10), Ct);
        using var retried = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal([200, 200, 429, 200], log.Select(r => r!["statusCode"]!.GetValue<int>()));
        Assert.Equal(waitMs, log[2]!["retryAfterMs"]!.GetValue<long>());
        var waited = DateTimeOffset.Parse(log[3]!["receivedAt"]!.GetValue<string>(), CultureInfo.InvariantCulture)
            - DateTimeOffset.Parse(log[2]!["receivedAt"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        Assert.True(waited.TotalMilliseconds >= waitMs - 1, $"the log shows a wait of {waited.TotalMilliseconds} ms for an advised {waitMs} ms");
    }

    [Fact]
    public async Task Successful_responses_report_true_remaining_and_reset_that_match_the_refill_rate()
    {
        // 4 requests per 800 ms: 200 ms per request; after taking 2 the bucket is full again in 400 ms.
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":4,"tokensPerWindow":1000000,"windowMs":800}}""");
        using var http = emulator.CreateClient(NewCaller("headers"));

        using var first = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var second = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal("3", Header(first, "x-ratelimit-remaining-requests"));
        Assert.Equal("2", Header(second, "x-ratelimit-remaining-requests"));
        Assert.InRange(ParseDurationMs(Header(second, "x-ratelimit-reset-requests")), 200, 400);
        var usage = JsonNode.Parse(await second.Content.ReadAsStringAsync(Ct))!["usage"]!["total_tokens"]!.GetValue<int>();
        Assert.InRange(int.Parse(Header(second, "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture), 1_000_000 - (2 * usage), 1_000_000 - usage);
    }

    [Fact]
    public async Task Embeddings_spend_their_input_tokens_from_the_token_bucket()
    {
        // A minute-long window: nothing refills while the test runs. Each request below is 8 input tokens.
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":100,"tokensPerWindow":20,"windowMs":60000}}""");
        var caller = NewCaller("emb-bucket");
        using var http = emulator.CreateClient(caller);
        const string body = """{"model":"text-embedding-3-small","input":["one two three four","five six seven eight"]}""";

        using var first = await http.PostAsync("v1/embeddings", Json(body), Ct);
        using var second = await http.PostAsync("v1/embeddings", Json(body), Ct);
        using var limited = await http.PostAsync("v1/embeddings", Json(body), Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(8, JsonNode.Parse(await first.Content.ReadAsStringAsync(Ct))!["usage"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal("12", Header(first, "x-ratelimit-remaining-tokens"));
        Assert.Equal("4", Header(second, "x-ratelimit-remaining-tokens"));
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("tokens", (await ErrorOfAsync(limited))["type"]!.GetValue<string>());
        Assert.InRange(long.Parse(Header(limited, "retry-after-ms"), CultureInfo.InvariantCulture), 1, 60_000);
        Assert.Equal(["ok", "ok", "rate_limited_by_bucket"], await emulator.OutcomesAsync(caller));
    }

    [Fact]
    public async Task Responses_spend_prompt_and_output_tokens_as_chat_does()
    {
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":100,"tokensPerWindow":1000000,"windowMs":60000}}""");
        using var http = emulator.CreateClient(NewCaller("resp-bucket"));

        using var response = await http.PostAsync("v1/responses", Json("""{"model":"gpt-4o","input":"Spend tokens"}"""), Ct);

        var total = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["usage"]!["total_tokens"]!.GetValue<int>();
        Assert.Equal((1_000_000 - total).ToString(CultureInfo.InvariantCulture), Header(response, "x-ratelimit-remaining-tokens"));
        Assert.Equal("99", Header(response, "x-ratelimit-remaining-requests"));
    }

    [Fact]
    public async Task Remaining_headers_only_sends_azures_two_counts_without_limits_or_resets()
    {
        // A minute-long window: nothing refills while the test runs.
        await emulator.PutProfileAsync("""
            {"retryAfterHeaders":["x-ms-retry-after-ms","retry-after-ms"],
             "rateLimiter":{"enabled":true,"requestsPerWindow":2,"tokensPerWindow":1000000,"windowMs":60000,"remainingHeadersOnly":true}}
            """);
        using var http = emulator.CreateClient(NewCaller("remaining-only"));

        using var first = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var second = await http.PostAsync("v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}"""), Ct);
        using var third = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var limited = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(["1", "1", "0", "0"], new[] { first, second, third, limited }.Select(r => Header(r, "x-ratelimit-remaining-requests")));
        Assert.All([first, second, third, limited], r => Assert.True(HasHeader(r, "x-ratelimit-remaining-tokens")));
        Assert.All([first, second, third, limited], r => Assert.DoesNotContain(r.Headers, h => h.Key.StartsWith("x-ratelimit-limit-", StringComparison.Ordinal) || h.Key.StartsWith("x-ratelimit-reset-", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(Header(limited, "retry-after-ms"), Header(limited, "x-ms-retry-after-ms"));
        Assert.False(HasHeader(limited, "retry-after"));
    }

    private static double ParseDurationMs(string duration)
    {
        if (duration.EndsWith("ms", StringComparison.Ordinal))
        {
            return double.Parse(duration[..^2], CultureInfo.InvariantCulture);
        }

        var total = 0.0;
        var number = "";
        foreach (var c in duration)
        {
            if (char.IsDigit(c) || c == '.')
            {
                number += c;
                continue;
            }

            total += double.Parse(number, CultureInfo.InvariantCulture) * c switch { 'h' => 3_600_000, 'm' => 60_000, _ => 1000 };
            number = "";
        }

        return total;
    }
}
