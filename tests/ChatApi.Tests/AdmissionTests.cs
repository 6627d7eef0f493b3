using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi's own rate limit and concurrency cap answer before the upstream budget is spent.</summary>
public sealed class AdmissionTests(ChatApiFixture fixture)
{
    private readonly string _caller = $"admit-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpClient As(Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> api, string caller, string client)
    {
        var http = ChatApiFixture.ClientFor(api, caller);
        http.DefaultRequestHeaders.Add("X-Chat-Client", client);
        return http;
    }

    [Fact]
    public async Task A_client_over_its_rate_gets_429_with_retry_after_and_the_upstream_sees_nothing_of_it()
    {
        await using var api = fixture.CreateApi(new Dictionary<string, string?>
        {
            ["Chat:RateLimit:PermitsPerWindow"] = "2",
            ["Chat:RateLimit:Window"] = "00:01:00",
        });
        var alice = As(api, _caller, "alice");

        for (var i = 0; i < 2; i++)
        {
            using var ok = await alice.PostAsJsonAsync("/api/chat", ChatApiCalls.Body($"message {i}"), Ct);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var refused = await alice.PostAsJsonAsync("/api/chat/stream", ChatApiCalls.Body("one too many"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var seconds = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 1, 60);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("Too many chat requests", problem.GetProperty("title").GetString());
        Assert.Contains("Chat:RateLimit:PermitsPerWindow", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(problem.GetProperty("retryAfterMs").GetInt64() > 0);
        Assert.Equal(2, (await fixture.SeenAsync(_caller)).Count);

        // Another client has its own allowance.
        using var bob = await As(api, _caller, "bob").PostAsJsonAsync("/api/chat", ChatApiCalls.Body("hi from bob"), Ct);
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
    }

    [Fact]
    public async Task A_message_larger_than_the_models_whole_token_limit_gets_413_at_once_and_the_upstream_sees_nothing()
    {
        await using var api = fixture.CreateApi(new Dictionary<string, string?>
        {
            ["OpenAI:Resilience:RateLimit:Enabled"] = "true",
            ["OpenAI:Resilience:RateLimit:Limits:gpt-4o:TokensPerMinute"] = "300",
        });

        using var refused = await As(api, _caller, "erin").PostAsJsonAsync("/api/chat", ChatApiCalls.Body(string.Join(' ', Enumerable.Repeat("long", 400))), Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("Request too large", problem.GetProperty("title").GetString());
        Assert.Contains("token limit of 300 a minute", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task Past_the_concurrency_cap_a_chat_is_refused_at_once_with_503_while_models_still_answer()
    {
        await using var api = fixture.CreateApi(new Dictionary<string, string?> { ["Chat:RateLimit:MaxConcurrentChats"] = "1" });
        await fixture.ScriptAsync(_caller, "slow-first-token:ms=3000");
        var client = As(api, _caller, "carol");

        // The first chat holds the only slot while the upstream is slow to answer.
        using var first = new HttpRequestMessage(HttpMethod.Post, "/api/chat/stream") { Content = JsonContent.Create(ChatApiCalls.Body("slow")) };
        using var firstResponse = await client.SendAsync(first, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        await WaitUntilAsync(async () => (await fixture.SeenAsync(_caller)).Count == 1);

        using var second = await As(api, _caller, "dave").PostAsJsonAsync("/api/chat", ChatApiCalls.Body("me too"), Ct);
        using var models = await client.GetAsync("/api/models", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Equal("1", second.Headers.GetValues("Retry-After").Single());
        var problem = await second.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("Chat:RateLimit:MaxConcurrentChats", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(20, Ct);
        }
    }
}
