using System.ClientModel;
using System.Diagnostics.Metrics;
using Azure.AI.OpenAI;
using Azure.Core;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// Azure OpenAI through the one layer, against the emulator's Azure dialect: the layer's own client on Azure's v1 API
/// with the key in an <c>api-key</c> header, or an Entra ID token fetched for each attempt, and its
/// <c>x-ms-retry-after-ms</c> wait; and Azure.AI.OpenAI's own <see cref="AzureOpenAIClient"/> (deployment paths) with
/// the layer as its transport.
/// </summary>
public sealed class AzureOpenAITests : IAsyncLifetime
{
    private const string Key = "azure-test-key";
    private const string Token = "entra-test-token";
    private const int ServerWaitMs = 300;
    private InProcessEmulator _emulator = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _emulator = await InProcessEmulator.StartAsync(Key, Token);

    public async ValueTask DisposeAsync() => await _emulator.DisposeAsync();

    [Fact]
    public async Task With_a_key_calls_go_to_azures_v1_api_with_an_api_key_header_and_honour_x_ms_retry_after_ms()
    {
        await _emulator.ScriptAsync($"429:x-ms-retry-after-ms={ServerWaitMs}", "ok");
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Key={Key};Deployment=gpt-4o");

        var reply = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello Azure", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        var seen = await _emulator.SeenAsync();
        Assert.Equal([("azure-v1", "api-key", "rate_limit"), ("azure-v1", "api-key", "ok")], seen.Select(r => (r.Dialect, r.Auth, r.Outcome)));
        Assert.True(seen[1].ReceivedAt - seen[0].ReceivedAt >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {(seen[1].ReceivedAt - seen[0].ReceivedAt).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms"); // - 1: the log rounds to the millisecond
    }

    [Fact]
    public async Task With_no_key_each_attempt_carries_an_entra_token_asked_of_the_apps_credential()
    {
        await _emulator.ScriptAsync("503:retry-after-ms=0", "ok");
        var credential = new CountingCredential(Token);
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Deployment=gpt-4o", credential);

        var reply = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello Entra", cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.Equal([("azure-v1", "bearer", "service_unavailable"), ("azure-v1", "bearer", "ok")], (await _emulator.SeenAsync()).Select(r => (r.Dialect, r.Auth, r.Outcome)));
        Assert.Equal(2, credential.Asked); // once per attempt: a retry never goes with a token fetched before its wait
        Assert.All(credential.Scopes, scope => Assert.Equal("https://cognitiveservices.azure.com/.default", scope));
    }

    [Fact]
    public async Task A_token_the_upstream_refuses_is_a_final_401_not_retried()
    {
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Deployment=gpt-4o", new CountingCredential("expired-token"));

        await Assert.ThrowsAnyAsync<Exception>(() => host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello", cancellationToken: Ct));

        Assert.Equal([("azure-v1", "bearer")], (await _emulator.SeenAsync()).Select(r => (r.Dialect, r.Auth)));
    }

    [Fact]
    public async Task Azures_own_client_rides_the_layer_on_its_deployment_path_with_its_api_key()
    {
        await _emulator.ScriptAsync($"429:x-ms-retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok");
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Key={Key};Deployment=gpt-4o");
        var azure = new AzureOpenAIClient(_emulator.BaseAddress, new ApiKeyCredential(Key), new AzureOpenAIClientOptions().UseResilientTransport(host.Services));
        var chat = azure.GetChatClient("gpt-4o").AsIChatClient().AsBuilder().UseResilientCallScope().Build(host.Services);

        var progress = new CallProgress("gpt-4o", _ => { });
        ChatResponse reply;
        using (progress.Enter())
        {
            reply = await chat.GetResponseAsync("Hello deployment", cancellationToken: Ct);
        }

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.Equal(3, progress.Attempts); // the layer's attempts, not the SDK's retries
        var seen = await _emulator.SeenAsync();
        Assert.Equal(
            [("azure-deployment", "api-key", "rate_limit"), ("azure-deployment", "api-key", "service_unavailable"), ("azure-deployment", "api-key", "ok")],
            seen.Select(r => (r.Dialect, r.Auth, r.Outcome))); // three requests for three attempts: the SDK's own retries are off
        Assert.All(seen, r => Assert.Equal("/openai/deployments/gpt-4o/chat/completions", r.Path));
        Assert.True(seen[1].After(seen[0]) >= TimeSpan.FromMilliseconds(ServerWaitMs - 1),
            $"the retry came {seen[1].After(seen[0]).TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms");
    }

    [Fact]
    public async Task Azures_own_client_with_entra_id_streams_and_embeds_through_the_layer_with_its_token_on_every_attempt()
    {
        await _emulator.ScriptAsync("503:retry-after-ms=0", "ok", "429:x-ms-retry-after-ms=20", "ok");
        var credential = new CountingCredential(Token);
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Deployment=gpt-4o", credential);
        var azure = new AzureOpenAIClient(_emulator.BaseAddress, credential, new AzureOpenAIClientOptions().UseResilientTransport(host.Services));
        var chat = azure.GetChatClient("gpt-4o").AsIChatClient().AsBuilder().UseResilientCallScope().Build(host.Services);
        var embeddings = azure.GetEmbeddingClient("text-embedding-3-small").AsIEmbeddingGenerator().AsBuilder().UseResilientCallScope().Build(host.Services);

        var streamed = new System.Text.StringBuilder();
        await foreach (var update in chat.GetStreamingResponseAsync("Hello stream", cancellationToken: Ct))
        {
            streamed.Append(update.Text);
        }

        var vectors = await embeddings.GenerateAsync(["Hello embeddings"], cancellationToken: Ct);

        Assert.NotEqual(0, streamed.Length);
        Assert.Single(vectors);
        Assert.Equal(
            [("chat.completions", "bearer", "service_unavailable"), ("chat.completions", "bearer", "ok"), ("embeddings", "bearer", "rate_limit"), ("embeddings", "bearer", "ok")],
            (await _emulator.SeenAsync()).Select(r => (r.Operation, r.Auth, r.Outcome)));
        Assert.NotEqual(0, credential.Asked); // the SDK's own policy asks (and caches) the app's credential; the retries carry its token
    }

    [Fact]
    public async Task Remaining_only_rate_limit_headers_pace_a_burst_so_no_429_follows_the_first_response()
    {
        // Azure's headers: what remains, never the limit nor when it refills. 20 requests per 2 s, 60 calls at once.
        await _emulator.PutProfileAsync("""
            {"retryAfterHeaders":["x-ms-retry-after-ms","retry-after-ms"],
             "rateLimiter":{"enabled":true,"requestsPerWindow":20,"tokensPerWindow":10000000,"windowMs":2000,"remainingHeadersOnly":true}}
            """);
        using var host = await StartAsync($"Endpoint={_emulator.BaseAddress};IsAzure=true;Key={Key};Deployment=gpt-4o");
        var azure = new AzureOpenAIClient(_emulator.BaseAddress, new ApiKeyCredential(Key), new AzureOpenAIClientOptions().UseResilientTransport(host.Services));
        var chat = azure.GetChatClient("gpt-4o").AsIChatClient().AsBuilder().UseResilientCallScope().Build(host.Services);
        var paced = 0;
        using var meter = new MeterListener();
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        meter.InstrumentPublished = (instrument, listener) =>
        {
            // Listeners are process-wide: only this host's gate.
            if (instrument.Name == RetryTelemetryConstants.Metrics.GateWaitDuration && instrument.Meter.Scope == meters)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meter.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: RetryTelemetryConstants.Tags.GateReason, Value: "paced" })
                {
                    Interlocked.Increment(ref paced);
                }
            }
        });
        meter.Start();

        var replies = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => chat.GetResponseAsync($"Burst {i}", cancellationToken: Ct)));

        Assert.All(replies, reply => Assert.False(string.IsNullOrEmpty(reply.Text)));
        var seen = await _emulator.SeenAsync();
        Assert.Equal(60, seen.Count(r => r.Outcome == "ok"));
        Assert.DoesNotContain(seen, r => r.Outcome == "rate_limit"); // the first request goes alone (the gate's probe): no 429 at all
        Assert.True(paced > 0, "no call waited for the gate's pacing: the remaining counts were not read as limits"); // not the slow start of an upstream that publishes nothing
    }

    [Fact]
    public void The_layer_must_be_registered_before_it_can_be_a_transport()
    {
        using var services = new ServiceCollection().BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => new AzureOpenAIClientOptions().UseResilientTransport(services));

        Assert.Contains("AddResilientOpenAI", error.Message, StringComparison.Ordinal);
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
