using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>An emulator whose clock only moves when a test says so.</summary>
public sealed class FakeClockEmulatorFixture : EmulatorFixture
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected override void Configure(WebApplicationBuilder builder) => builder.Services.AddSingleton<TimeProvider>(Clock);
}

/// <summary>Token-bucket mode with a frozen clock: every count and every wait is exact.</summary>
public sealed class FakeClockRateLimitTests(FakeClockEmulatorFixture emulator) : IClassFixture<FakeClockEmulatorFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Frozen_clock_burst_admits_exactly_the_bucket_and_the_advised_wait_is_exact()
    {
        // 5 requests per second: one request regained every 200 ms.
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":5,"tokensPerWindow":1000000,"windowMs":1000}}""");
        using var http = emulator.CreateClient(NewCaller("frozen"));

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => http.PostAsync("v1/chat/completions", ChatBody(), Ct)));

        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(15, rejected.Count);
        Assert.All(rejected, r => Assert.Equal("200", Header(r, "retry-after-ms")));
        Assert.All(rejected, r => Assert.Equal("1", Header(r, "retry-after")));
        Assert.All(rejected, r => Assert.Equal("1s", Header(r, "x-ratelimit-reset-requests")));

        emulator.Clock.Advance(TimeSpan.FromMilliseconds(199));
        using var early = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, early.StatusCode);
        Assert.Equal("1", Header(early, "retry-after-ms"));

        emulator.Clock.Advance(TimeSpan.FromMilliseconds(1));
        using var onTime = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        Assert.Equal(HttpStatusCode.OK, onTime.StatusCode);
        Assert.Equal("0", Header(onTime, "x-ratelimit-remaining-requests"));
        Assert.Equal("1s", Header(onTime, "x-ratelimit-reset-requests"));

        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Token_bucket_rejects_when_tokens_run_out_and_names_the_tokens_limit()
    {
        var caller = NewCaller("tokens");
        using var http = emulator.CreateClient(caller);
        await emulator.PutProfileAsync("""{"rateLimiter":{"enabled":true,"requestsPerWindow":1000,"tokensPerWindow":250,"windowMs":1000}}""");

        using var first = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        var cost = JsonNode.Parse(await first.Content.ReadAsStringAsync(Ct))!["usage"]!["total_tokens"]!.GetValue<int>();
        var admitted = 1;
        HttpResponseMessage? limited = null;
        while (limited is null && admitted < 10)
        {
            var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                admitted++;
                response.Dispose();
            }
            else
            {
                limited = response;
            }
        }

        Assert.Equal(250 / cost, admitted);
        Assert.NotNull(limited);
        using (limited)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            var error = await ErrorOfAsync(limited);
            Assert.Equal("tokens", error["type"]!.GetValue<string>());
            Assert.Equal("rate_limit_exceeded", error["code"]!.GetValue<string>());
            var left = 250 - (admitted * cost);
            Assert.Equal(left.ToString(CultureInfo.InvariantCulture), Header(limited, "x-ratelimit-remaining-tokens"));

            // 250 tokens per 1000 ms is 4 ms per token; the missing tokens take exactly that long.
            Assert.Equal(((cost - left) * 4).ToString(CultureInfo.InvariantCulture), Header(limited, "retry-after-ms"));
        }
    }
}
