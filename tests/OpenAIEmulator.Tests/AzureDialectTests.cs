using System.ClientModel;
using System.Net;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using OpenAI.Responses;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

// OPENAI001: the Responses client is experimental in OpenAI 2.15; Azure's v1 API serves it too.
#pragma warning disable OPENAI001

/// <summary>Azure OpenAI's paths, authentication and gateway errors, on the same operations as /v1.</summary>
public sealed class AzureDialectTests(AzureEmulatorFixture emulator) : IClassFixture<AzureEmulatorFixture>
{
    private const string ApiVersion = "2024-10-21";
    private const string InvalidKeyMessage = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sdk_on_the_azure_v1_endpoint_with_an_api_key_header_gets_chat_embeddings_and_responses()
    {
        var caller = NewCaller("azure-v1-key");
        var client = emulator.CreateAzureKeyClient(caller);

        ChatCompletion chat = await client.GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("Hello Azure")], cancellationToken: Ct);
        var embedding = await client.GetEmbeddingClient("text-embedding-3-small").GenerateEmbeddingAsync("Hello Azure", cancellationToken: Ct);
        ResponseResult response = await client.GetResponsesClient().CreateResponseAsync("gpt-4o", "Hello Azure", cancellationToken: Ct);
        var stream = client.GetResponsesClient().CreateResponseStreamingAsync("gpt-4o", "Hello Azure", cancellationToken: Ct);
        var streamed = new List<StreamingResponseUpdate>();
        await foreach (var update in stream)
        {
            streamed.Add(update);
        }

        Assert.Contains("Hello Azure", chat.Content[0].Text);
        Assert.Equal(1536, embedding.Value.ToFloats().Length);
        Assert.Equal(chat.Content[0].Text, response.GetOutputText());
        Assert.IsType<StreamingResponseCompletedUpdate>(streamed[^1]);
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal(
            [("chat.completions", "/openai/v1/chat/completions"), ("embeddings", "/openai/v1/embeddings"), ("responses", "/openai/v1/responses"), ("responses", "/openai/v1/responses")],
            log.Select(r => (r!["operation"]!.GetValue<string>(), r["path"]!.GetValue<string>())));
        Assert.All(log, r => Assert.Equal(("azure-v1", "api-key", "ok"), (r!["dialect"]!.GetValue<string>(), r["auth"]!.GetValue<string>(), r["outcome"]!.GetValue<string>())));
    }

    [Fact]
    public async Task Sdk_with_an_accepted_bearer_token_is_served_and_a_wrong_token_gets_azures_401()
    {
        var caller = NewCaller("azure-v1-token");

        ChatCompletion chat = await emulator.CreateAzureTokenClient(caller).GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("Token")], cancellationToken: Ct);
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            emulator.CreateAzureTokenClient(caller, token: "expired-token").GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("Token")], cancellationToken: Ct));

        Assert.Contains("Token", chat.Content[0].Text);
        Assert.Equal(401, refused.Status);
        var body = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!;
        Assert.Equal(401, body["statusCode"]!.GetValue<int>());
        Assert.StartsWith("Unauthorized. Access token is missing, invalid", body["message"]!.GetValue<string>());
        Assert.DoesNotContain("expired-token", body.ToJsonString());
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal([("bearer", "ok"), ("bearer", "invalid_api_key")], log.Select(r => (r!["auth"]!.GetValue<string>(), r["outcome"]!.GetValue<string>())));
    }

    [Fact]
    public async Task Deployment_path_serves_chat_with_the_deployment_as_the_model_and_logs_the_api_version()
    {
        var caller = NewCaller("azure-deployment");
        using var http = AzureHttp(caller);

        using var response = await http.PostAsync($"openai/deployments/gpt-4o-mini/chat/completions?api-version={ApiVersion}",
            Json("""{"model":"gpt-4o","messages":[{"role":"user","content":"Which model?"}]}"""), Ct);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("gpt-4o-mini", body["model"]!.GetValue<string>());
        Assert.Contains("speaking as gpt-4o-mini", body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        var entry = Assert.Single(await emulator.RequestsAsync(caller))!;
        Assert.Equal("azure-deployment", entry["dialect"]!.GetValue<string>());
        Assert.Equal("/openai/deployments/gpt-4o-mini/chat/completions", entry["path"]!.GetValue<string>());
        Assert.Equal(ApiVersion, entry["apiVersion"]!.GetValue<string>());
        Assert.Equal("gpt-4o-mini", entry["model"]!.GetValue<string>());
    }

    [Fact]
    public async Task Deployment_path_streams_chat_and_serves_embeddings_without_a_model_in_the_body()
    {
        using var http = AzureHttp(NewCaller("azure-deployment-ops"));

        using var stream = await http.PostAsync($"openai/deployments/gpt-4o/chat/completions?api-version={ApiVersion}",
            Json("""{"messages":[{"role":"user","content":"Stream"}],"stream":true}"""), Ct);
        using var embeddings = await http.PostAsync($"openai/deployments/text-embedding-3-large/embeddings?api-version={ApiVersion}",
            Json("""{"input":["a","b"]}"""), Ct);

        Assert.EndsWith("data: [DONE]\n\n", await stream.Content.ReadAsStringAsync(Ct));
        var vectors = JsonNode.Parse(await embeddings.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("text-embedding-3-large", vectors["model"]!.GetValue<string>());
        Assert.All(vectors["data"]!.AsArray(), d => Assert.Equal(3072, d!["embedding"]!.AsArray().Count));
    }

    [Theory]
    [InlineData("openai/deployments/gpt-4o/chat/completions")]
    [InlineData("openai/deployments/text-embedding-3-small/embeddings")]
    public async Task Deployment_path_without_api_version_is_azures_404_resource_not_found(string path)
    {
        var caller = NewCaller("azure-no-version");
        using var http = AzureHttp(caller);

        using var response = await http.PostAsync(path, Json("""{"messages":[{"role":"user","content":"Hi"}],"input":"Hi"}"""), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("""{"error":{"code":"404","message":"Resource not found"}}""", await response.Content.ReadAsStringAsync(Ct));
        var entry = Assert.Single(await emulator.RequestsAsync(caller))!;
        Assert.Equal(("resource_not_found", 404), (entry["outcome"]!.GetValue<string>(), entry["statusCode"]!.GetValue<int>()));
        Assert.Null(entry["apiVersion"]);
    }

    [Theory]
    [InlineData($"openai/deployments/gpt-5-nano/chat/completions?api-version={ApiVersion}", """{"messages":[{"role":"user","content":"Hi"}]}""")]
    [InlineData("openai/v1/chat/completions", """{"model":"gpt-5-nano","messages":[{"role":"user","content":"Hi"}]}""")]
    [InlineData("openai/v1/embeddings", """{"model":"gpt-4o","input":"Hi"}""")]
    public async Task Unknown_deployment_is_azures_404_DeploymentNotFound(string path, string json)
    {
        using var http = AzureHttp(NewCaller("azure-unknown-deployment"));

        using var response = await http.PostAsync(path, Json(json), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("DeploymentNotFound", JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["error"]!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(null, null, """{"error":{"code":"401","message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}}""", null)]
    [InlineData("wrong-key", null, """{"error":{"code":"401","message":"INVALID_KEY"}}""", "api-key")]
    [InlineData("wrong-key", AzureEmulatorFixture.EntraToken, """{"error":{"code":"401","message":"INVALID_KEY"}}""", "api-key")]
    [InlineData(null, "wrong-token", """{"statusCode":401,"message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}""", "bearer")]
    public async Task Azure_paths_refuse_bad_credentials_with_azures_401_bodies(string? apiKey, string? bearer, string expected, string? auth)
    {
        foreach (var path in new[] { $"openai/deployments/gpt-4o/chat/completions?api-version={ApiVersion}", "openai/v1/chat/completions" })
        {
            var caller = NewCaller("azure-401");
            using var http = emulator.CreateClient(caller, apiKey: null);
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = ChatBody() };
            if (apiKey is not null)
            {
                request.Headers.Add("api-key", apiKey);
            }

            if (bearer is not null)
            {
                request.Headers.Authorization = new("Bearer", bearer);
            }

            using var response = await http.SendAsync(request, Ct);

            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal(expected.Replace("INVALID_KEY", InvalidKeyMessage, StringComparison.Ordinal), await response.Content.ReadAsStringAsync(Ct));
            var entry = Assert.Single(await emulator.RequestsAsync(caller))!;
            Assert.Equal(("invalid_api_key", auth), (entry["outcome"]!.GetValue<string>(), entry["auth"]?.GetValue<string>()));
        }
    }

    [Fact]
    public async Task The_key_is_accepted_on_azure_paths_as_a_bearer_token_too()
    {
        var caller = NewCaller("azure-key-bearer");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync($"openai/deployments/gpt-4o/chat/completions?api-version={ApiVersion}", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("bearer", Assert.Single(await emulator.RequestsAsync(caller))!["auth"]!.GetValue<string>());
    }

    [Fact]
    public async Task OpenAI_paths_do_not_read_api_key_or_azure_tokens()
    {
        var caller = NewCaller("openai-strict");
        using var http = emulator.CreateClient(caller, apiKey: null);
        using var keyed = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ChatBody() };
        keyed.Headers.Add("api-key", ApiKey);
        using var tokened = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ChatBody() };
        tokened.Headers.Authorization = new("Bearer", AzureEmulatorFixture.EntraToken);

        using var withKey = await http.SendAsync(keyed, Ct);
        using var withToken = await http.SendAsync(tokened, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, withKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, withToken.StatusCode);
        Assert.Equal("invalid_api_key", (await ErrorOfAsync(withKey))["code"]!.GetValue<string>());
        var log = await emulator.RequestsAsync(caller);
        Assert.Equal([("openai", "api-key"), ("openai", "bearer")], log.Select(r => (r!["dialect"]!.GetValue<string>(), r["auth"]!.GetValue<string>())));
    }

    [Fact]
    public async Task Scripted_outcomes_for_a_caller_apply_on_every_dialect_in_arrival_order()
    {
        var caller = NewCaller("azure-script");
        await emulator.ScriptAsync(caller, "503", "429:retry-after-ms=20", "ok");
        using var http = AzureHttp(caller);

        using var deployment = await http.PostAsync($"openai/deployments/gpt-4o/chat/completions?api-version={ApiVersion}", ChatBody(), Ct);
        using var v1 = await http.PostAsync("openai/v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}"""), Ct);
        using var openai = await emulator.CreateClient(caller).PostAsync("v1/responses", Json("""{"model":"gpt-4o","input":"x"}"""), Ct);

        Assert.Equal([HttpStatusCode.ServiceUnavailable, HttpStatusCode.TooManyRequests, HttpStatusCode.OK], new[] { deployment.StatusCode, v1.StatusCode, openai.StatusCode });
        Assert.Equal(["azure-deployment", "azure-v1", "openai"], (await emulator.RequestsAsync(caller)).Select(r => r!["dialect"]!.GetValue<string>()));
        Assert.Equal(3, (await emulator.CallerStatsAsync(caller)).Total);
    }

    [Fact]
    public async Task Sdk_on_azure_sees_a_429_that_carries_only_x_ms_retry_after_ms()
    {
        var caller = NewCaller("azure-x-ms");
        await emulator.ScriptAsync(caller, "429:x-ms-retry-after-ms=1500");
        var client = emulator.CreateAzureKeyClient(caller).GetChatClient("gpt-4o");

        var limited = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));

        var headers = limited.GetRawResponse()!.Headers;
        Assert.Equal(429, limited.Status);
        Assert.Equal("1500", headers.TryGetValue("x-ms-retry-after-ms", out var xMs) ? xMs : null);
        Assert.False(headers.TryGetValue("retry-after-ms", out _));
        Assert.False(headers.TryGetValue("retry-after", out _));
    }

    [Fact]
    public async Task Unknown_azure_path_is_azures_404()
    {
        using var http = AzureHttp(NewCaller("azure-unknown-path"));

        using var response = await http.PostAsync($"openai/deployments/gpt-4o/completions?api-version={ApiVersion}", ChatBody(), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("404", JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["error"]!["code"]!.GetValue<string>());
    }

    /// <summary>A raw client that authenticates as Azure key clients do, with <c>api-key</c>.</summary>
    private HttpClient AzureHttp(string caller)
    {
        var http = emulator.CreateClient(caller, apiKey: null);
        http.DefaultRequestHeaders.Add("api-key", ApiKey);
        return http;
    }
}
