using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using OpenAI;
using OpenAI.Chat;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>
/// One emulator per test class, hosted in-process on a real loopback socket (so resets and
/// disconnects are real). Pacing is off so tests are fast; an API key is required.
/// </summary>
public class EmulatorFixture : IAsyncLifetime
{
    public const string ApiKey = "test-key";

    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = null!;

    public WebApplication App => _app ?? throw new InvalidOperationException("Not started.");

    /// <summary>A client with the right key and no caller: for the operator endpoints.</summary>
    public HttpClient Http { get; private set; } = null!;

    protected virtual IEnumerable<string> Arguments => [];

    public static string[] DefaultArguments =>
    [
        "--urls=http://127.0.0.1:0",
        $"--Emulator:ApiKey={ApiKey}",
        "--Emulator:TokensPerSecond=0",
        "--Emulator:FirstTokenDelayMs=0",
        "--Logging:LogLevel:Default=Warning",
    ];

    public async ValueTask InitializeAsync()
    {
        _app = EmulatorApp.Create([.. DefaultArguments, .. Arguments], Configure);
        await _app.StartAsync(TestContext.Current.CancellationToken);
        BaseAddress = _app.GetBaseAddress();
        Http = CreateClient(caller: null);
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    protected virtual void Configure(WebApplicationBuilder builder)
    {
    }

    /// <summary>A raw client for one caller (<c>x-emulator-caller</c>), with the key set unless told otherwise.</summary>
    public HttpClient CreateClient(string? caller, string? apiKey = ApiKey)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        if (caller is not null)
        {
            client.DefaultRequestHeaders.Add("x-emulator-caller", caller);
        }

        return client;
    }

    /// <summary>The official SDK client, SDK retries off (as ChatApi runs it), routed through a caller's HttpClient.</summary>
    public ChatClient CreateChatClient(string caller, string model = "gpt-4o", string apiKey = ApiKey) =>
        new(model, new ApiKeyCredential(apiKey), SdkOptions(caller));

    /// <summary>The SDK's root client (embeddings, responses, ...), set up as <see cref="CreateChatClient"/>.</summary>
    public OpenAIClient CreateOpenAIClient(string caller, string apiKey = ApiKey) => new(new ApiKeyCredential(apiKey), SdkOptions(caller));

    public OpenAIClientOptions SdkOptions(string caller) => new()
    {
        Endpoint = new Uri(BaseAddress, "v1"),
        RetryPolicy = new ClientRetryPolicy(0),
        Transport = new HttpClientPipelineTransport(CreateClient(caller, apiKey: null)),
    };

    public static string NewCaller(string purpose) => $"{purpose}-{Guid.NewGuid():N}";

    public static StringContent ChatBody(string content = "Hi", bool stream = false, bool includeUsage = false, int? maxTokens = null, string model = "gpt-4o")
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
        };
        if (stream)
        {
            body["stream"] = true;
        }

        if (includeUsage)
        {
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        if (maxTokens is not null)
        {
            body["max_tokens"] = maxTokens;
        }

        return Json(body.ToJsonString());
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public async Task ScriptAsync(string? caller, params string[] outcomes)
    {
        var response = await Http.PostAsJsonAsync("emulator/chaos/script", new { outcomes, caller }, TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
    }

    public async Task PutProfileAsync(string json)
    {
        var response = await Http.PutAsync("emulator/chaos", Json(json), TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    public async Task<JsonNode> GetJsonAsync(string path) =>
        JsonNode.Parse(await Http.GetStringAsync(path, TestContext.Current.CancellationToken))!;

    /// <summary>This caller's counts: <c>{ total, byOutcome }</c> from <c>/emulator/stats</c>.</summary>
    public async Task<(int Total, Dictionary<string, int> ByOutcome)> CallerStatsAsync(string caller)
    {
        var stats = await GetJsonAsync("emulator/stats");
        if (stats["byCaller"]?[caller] is not JsonObject mine)
        {
            return (0, []);
        }

        var byOutcome = mine["byOutcome"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<int>());
        return (mine["total"]!.GetValue<int>(), byOutcome);
    }

    public async Task<JsonArray> RequestsAsync(string caller) =>
        (await GetJsonAsync($"emulator/requests?caller={Uri.EscapeDataString(caller)}")).AsArray();

    /// <summary>The outcome of each of this caller's requests, in arrival order, from the request log.</summary>
    public async Task<List<string>> OutcomesAsync(string caller) =>
        [.. (await RequestsAsync(caller)).Select(r => r!["outcome"]!.GetValue<string>())];

    /// <summary>The OpenAI error body: <c>error.code</c>, <c>error.type</c>, <c>error.param</c>.</summary>
    public static JsonNode ErrorOf(string body) => JsonNode.Parse(body)!["error"]!;

    public static async Task<JsonNode> ErrorOfAsync(HttpResponseMessage response) =>
        ErrorOf(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.NonValidated.TryGetValues(name, out var contentValues) ? string.Join(",", contentValues)
        : throw new Xunit.Sdk.XunitException($"Header '{name}' is missing (status {(int)response.StatusCode}).");

    public static bool HasHeader(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.Contains(name) || response.Content.Headers.NonValidated.Contains(name);

    /// <summary>Polls until <paramref name="condition"/> holds, for at most <paramref name="timeoutMs"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int timeoutMs = 5000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Timed out after {timeoutMs} ms waiting for: {what}");
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    public static JsonSerializerOptions Web { get; } = new(JsonSerializerDefaults.Web);
}
