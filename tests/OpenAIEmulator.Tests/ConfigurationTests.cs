using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>What configuration (<c>Emulator:*</c>) sets at start-up; each test hosts its own emulator.</summary>
public sealed class ConfigurationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Seeded_profile_repeats_the_same_fault_sequence()
    {
        string[] args = ["--Emulator:Seed=42", "--Emulator:Chaos:ServerError500=0.3", "--Emulator:Chaos:ServiceUnavailable503=0.3"];

        var first = await StatusesAsync(args, 20);
        var second = await StatusesAsync(args, 20);

        Assert.Equal(first, second);
        Assert.Contains(200, first);
        Assert.Contains(500, first);
        Assert.Contains(503, first);
    }

    [Fact]
    public async Task Configured_profile_and_rate_limiter_apply_from_the_first_request()
    {
        var statuses = await StatusesAsync(["--Emulator:Chaos:Name=configured", "--Emulator:Chaos:RateLimiter:Enabled=true", "--Emulator:Chaos:RateLimiter:RequestsPerWindow=2"], 3);

        Assert.Equal([200, 200, 429], statuses);
    }

    [Fact]
    public async Task Configured_models_replace_the_default_list()
    {
        await using var app = await StartAsync(["--Emulator:Models:0=local-llm", "--Emulator:Models:1=gpt-4o"]);
        using var http = Client(app);

        var models = JsonNode.Parse(await http.GetStringAsync("v1/models", Ct))!["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>());
        using var removed = await http.PostAsync("v1/chat/completions", ChatBody(model: "gpt-4o-mini"), Ct);

        Assert.Equal(["local-llm", "gpt-4o"], models);
        Assert.Equal(HttpStatusCode.NotFound, removed.StatusCode);
    }

    [Fact]
    public async Task Configured_embedding_models_replace_the_default_list()
    {
        await using var app = await StartAsync(["--Emulator:EmbeddingModels:0=local-embedder"]);
        using var http = Client(app);

        using var local = await http.PostAsync("v1/embeddings", Json("""{"model":"local-embedder","input":"x"}"""), Ct);
        using var removed = await http.PostAsync("v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, removed.StatusCode);
    }

    [Fact]
    public async Task Configured_retry_after_headers_apply_from_the_first_request()
    {
        await using var app = await StartAsync(["--Emulator:Chaos:RateLimit=1", "--Emulator:Chaos:RetryAfterMs=1500", "--Emulator:Chaos:RetryAfterHeaders:0=x-ms-retry-after-ms"]);
        using var http = Client(app);

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("1500", Header(response, "x-ms-retry-after-ms"));
        Assert.False(HasHeader(response, "retry-after-ms"));
        Assert.False(HasHeader(response, "retry-after"));
    }

    [Fact]
    public async Task Accepted_tokens_alone_guard_azure_paths_and_leave_v1_open()
    {
        await using var app = await StartAsync(["--Emulator:ApiKey=", "--Emulator:AcceptedBearerTokens:0=only-token"]);
        using var http = new HttpClient { BaseAddress = app.GetBaseAddress() };
        using var tokened = new HttpRequestMessage(HttpMethod.Post, "openai/v1/chat/completions") { Content = ChatBody() };
        tokened.Headers.Authorization = new("Bearer", "only-token");

        using var openV1 = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var noToken = await http.PostAsync("openai/v1/chat/completions", ChatBody(), Ct);
        using var withToken = await http.SendAsync(tokened, Ct);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Unauthorized, HttpStatusCode.OK], new[] { openV1.StatusCode, noToken.StatusCode, withToken.StatusCode });
    }

    [Fact]
    public async Task Without_any_credential_configured_azure_paths_accept_anything()
    {
        await using var app = await StartAsync(["--Emulator:ApiKey="]);
        using var http = new HttpClient { BaseAddress = app.GetBaseAddress() };
        http.DefaultRequestHeaders.Add("api-key", "anything");

        using var response = await http.PostAsync("openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Without_a_configured_key_any_bearer_or_none_is_accepted()
    {
        await using var app = await StartAsync(["--Emulator:ApiKey="]);
        using var http = new HttpClient { BaseAddress = app.GetBaseAddress() };

        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("--Emulator:Chaos:Reset=2", "Emulator:Chaos:Reset", "between 0 and 1")]
    [InlineData("--Emulator:Chaos:RateLimiter:WindowMs=0", "Emulator:Chaos:RateLimiter:WindowMs", "1 or more")]
    [InlineData("--Emulator:TokensPerSecond=-1", "Emulator:TokensPerSecond", "0 (no delay) or more")]
    [InlineData("--Emulator:RequestLogCapacity=0", "Emulator:RequestLogCapacity", "1 or more")]
    [InlineData("--Emulator:Chaos:RetryAfterHeaders:0=retry-after-seconds", "Emulator:Chaos:RetryAfterHeaders", "x-ms-retry-after-ms")]
    [InlineData("--Emulator:AcceptedBearerTokens:0=", "Emulator:AcceptedBearerTokens", "empty tokens")]
    [InlineData("--Emulator:EmbeddingModels:0=", "Emulator:EmbeddingModels", "empty model names")]
    public async Task Invalid_configuration_fails_start_up_naming_the_key(string argument, string key, string rule)
    {
        await using var app = EmulatorApp.Create([.. DefaultArguments, argument]);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(Ct));

        Assert.Contains(key, error.Message);
        Assert.Contains(rule, error.Message);
    }

    private static async Task<WebApplication> StartAsync(string[] args)
    {
        var app = EmulatorApp.Create([.. DefaultArguments, .. args]);
        await app.StartAsync(Ct);
        return app;
    }

    private static HttpClient Client(WebApplication app)
    {
        var http = new HttpClient { BaseAddress = app.GetBaseAddress() };
        http.DefaultRequestHeaders.Add("Authorization", $"Bearer {ApiKey}");
        return http;
    }

    private static async Task<List<int>> StatusesAsync(string[] args, int count)
    {
        await using var app = await StartAsync(args);
        using var http = Client(app);

        var statuses = new List<int>();
        for (var i = 0; i < count; i++)
        {
            using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
            statuses.Add((int)response.StatusCode);
        }

        return statuses;
    }
}
