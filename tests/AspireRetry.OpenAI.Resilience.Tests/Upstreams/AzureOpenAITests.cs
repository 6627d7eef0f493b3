extern alias emulator;

using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Core;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// Azure OpenAI through the one layer, against the emulator's Azure dialect: its v1 API with the key in an
/// <c>api-key</c> header, or an Entra ID token fetched for each attempt, and its <c>x-ms-retry-after-ms</c> wait.
/// </summary>
public sealed class AzureOpenAITests : IAsyncLifetime
{
    private const string Key = "azure-test-key";
    private const string Token = "entra-test-token";
    private const int ServerWaitMs = 300;
    private WebApplication _emulator = null!;
    private HttpClient _emulatorClient = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _emulator = EmulatorApp.Create(["--urls=http://127.0.0.1:0", $"--Emulator:ApiKey={Key}", $"--Emulator:AcceptedBearerTokens:0={Token}", "--Logging:LogLevel:Default=Warning"]);
        await _emulator.StartAsync(Ct);
        _emulatorClient = new HttpClient { BaseAddress = _emulator.GetBaseAddress() };
    }

    public async ValueTask DisposeAsync()
    {
        _emulatorClient.Dispose();
        await _emulator.DisposeAsync();
    }

    [Fact]
    public async Task With_a_key_calls_go_to_azures_v1_api_with_an_api_key_header_and_honour_x_ms_retry_after_ms()
    {
        await ScriptAsync($"429:x-ms-retry-after-ms={ServerWaitMs}", "ok");
        using var host = await StartAsync($"Endpoint={_emulator.GetBaseAddress()};IsAzure=true;Key={Key};Deployment=gpt-4o");

        var reply = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello Azure", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        var seen = await SeenAsync();
        Assert.Equal([("azure-v1", "api-key", "rate_limit"), ("azure-v1", "api-key", "ok")], seen.Select(r => (r.Dialect, r.Auth, r.Outcome)));
        Assert.True(seen[1].ReceivedAt - seen[0].ReceivedAt >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {(seen[1].ReceivedAt - seen[0].ReceivedAt).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms"); // - 1: the log rounds to the millisecond
    }

    [Fact]
    public async Task With_no_key_each_attempt_carries_an_entra_token_asked_of_the_apps_credential()
    {
        await ScriptAsync("503:retry-after-ms=0", "ok");
        var credential = new CountingCredential(Token);
        using var host = await StartAsync($"Endpoint={_emulator.GetBaseAddress()};IsAzure=true;Deployment=gpt-4o", credential);

        var reply = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello Entra", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.Equal([("azure-v1", "bearer", "service_unavailable"), ("azure-v1", "bearer", "ok")], (await SeenAsync()).Select(r => (r.Dialect, r.Auth, r.Outcome)));
        Assert.Equal(2, credential.Asked); // once per attempt: a retry never goes with a token fetched before its wait
        Assert.All(credential.Scopes, scope => Assert.Equal("https://cognitiveservices.azure.com/.default", scope));
    }

    [Fact]
    public async Task A_token_the_upstream_refuses_is_a_final_401_not_retried()
    {
        using var host = await StartAsync($"Endpoint={_emulator.GetBaseAddress()};IsAzure=true;Deployment=gpt-4o", new CountingCredential("expired-token"));

        await Assert.ThrowsAnyAsync<Exception>(() => host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello", cancellationToken: Ct));

        Assert.Equal([("azure-v1", "bearer")], (await SeenAsync()).Select(r => (r.Dialect, r.Auth)));
    }

    [Theory]
    [InlineData("Endpoint=https://my-resource.openai.azure.com/;Deployment=gpt-4o", true, "https://my-resource.openai.azure.com/openai/v1/")]
    [InlineData("Endpoint=https://my-resource.openai.azure.com/openai/v1/;Key=k", true, "https://my-resource.openai.azure.com/openai/v1/")]
    [InlineData("Endpoint=https://my-resource.openai.azure.com/;Key=k;IsAzure=false", false, "https://my-resource.openai.azure.com/")]
    [InlineData("Endpoint=https://api.openai.com/v1;Key=k", false, "https://api.openai.com/v1")]
    public void Azure_is_the_connection_strings_word_else_an_azure_host(string connectionString, bool azure, string apiEndpoint)
    {
        var connection = OpenAIConnection.Parse(connectionString);

        Assert.Equal(azure, connection.IsAzure);
        Assert.Equal(new Uri(apiEndpoint), connection.ApiEndpoint);
    }

    [Fact]
    public void Only_azure_may_go_without_a_key()
    {
        var error = Assert.Throws<InvalidOperationException>(() => OpenAIConnection.Parse("Endpoint=https://api.openai.com/v1"));

        Assert.Contains("Key=", error.Message, StringComparison.Ordinal);
        Assert.True(OpenAIConnection.Parse("Endpoint=https://my-resource.openai.azure.com/").UsesEntraId);
    }

    private async Task ScriptAsync(params string[] outcomes) =>
        (await _emulatorClient.PostAsJsonAsync("/emulator/chaos/script", new { outcomes }, Ct)).EnsureSuccessStatusCode();

    private async Task<List<(string Dialect, string Auth, string Outcome, DateTimeOffset ReceivedAt)>> SeenAsync()
    {
        var log = (await _emulatorClient.GetFromJsonAsync<JsonArray>("/emulator/requests?limit=100", Ct))!;
        return [.. log.Select(r => (r!["dialect"]!.GetValue<string>(), r["auth"]!.GetValue<string>(), r["outcome"]!.GetValue<string>(),
                DateTimeOffset.Parse(r["receivedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(r => r.Item4)];
    }

    private static async Task<IHost> StartAsync(string connectionString, TokenCredential? credential = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:openai"] = connectionString });
        if (credential is not null)
        {
            builder.Services.AddSingleton(credential);
        }

        builder.AddResilientOpenAI().AddChatClient();
        var host = builder.Build();
        await host.StartAsync(Ct);
        return host;
    }

    /// <summary>An app's TokenCredential: hands out a fixed token and counts how often it is asked.</summary>
    private sealed class CountingCredential(string token) : TokenCredential
    {
        private int _asked;

        public int Asked => Volatile.Read(ref _asked);

        public List<string> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _asked);
            lock (Scopes)
            {
                Scopes.AddRange(requestContext.Scopes);
            }

            return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
