using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The DI shape of Aspire.OpenAI and Microsoft.Extensions.AI: an app injects <see cref="IChatClient"/>,
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> and <see cref="OpenAIClient"/>, and every call they make goes
/// through the one layer (judged by what the upstream saw).
/// </summary>
public sealed class DependencyInjectionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_injected_chat_client_retries_a_429_through_the_layer_and_takes_the_model_from_the_connection_string()
    {
        var upstream = new ScriptedUpstream(HttpStatusCode.TooManyRequests, HttpStatusCode.OK);
        using var host = await StartAsync(upstream, "Model=gpt-4o-mini", app => app.AddChatClient());

        var response = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync("Hello", cancellationToken: Ct);

        Assert.Equal("pong", response.Text);
        Assert.Equal(["/v1/chat/completions 429", "/v1/chat/completions 200"], upstream.Seen);
        Assert.All(upstream.Models, model => Assert.Equal("gpt-4o-mini", model));
    }

    [Fact]
    public async Task Keyed_chat_clients_and_the_apps_own_middleware_sit_on_the_same_layer()
    {
        var upstream = new ScriptedUpstream(HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK);
        var wrapped = 0;
        using var host = await StartAsync(upstream, "", app => app.AddKeyedChatClient("fast", "gpt-4o-mini")
            .Use((messages, options, next, cancellationToken) =>
            {
                Interlocked.Increment(ref wrapped);
                return next(messages, options, cancellationToken);
            }));

        var chat = host.Services.GetRequiredKeyedService<IChatClient>("fast");
        Assert.Equal("pong", (await chat.GetResponseAsync("Hello", cancellationToken: Ct)).Text);

        Assert.Equal(1, wrapped); // the app's middleware sees the call once; the layer under it retried
        Assert.Equal(["/v1/chat/completions 503", "/v1/chat/completions 200"], upstream.Seen);
    }

    [Fact]
    public async Task An_injected_embedding_generator_retries_a_429_through_the_layer()
    {
        var upstream = new ScriptedUpstream(HttpStatusCode.TooManyRequests, HttpStatusCode.OK);
        using var host = await StartAsync(upstream, "", app => app.AddEmbeddingGenerator("text-embedding-3-small"));

        var embeddings = await host.Services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>()
            .GenerateAsync(["one", "two"], cancellationToken: Ct);

        Assert.Equal(2, embeddings.Count);
        Assert.Equal(["/v1/embeddings 429", "/v1/embeddings 200"], upstream.Seen);
        Assert.All(upstream.Models, model => Assert.Equal("text-embedding-3-small", model));
    }

    [Fact]
    public async Task The_injected_OpenAI_client_keyed_by_the_connection_name_goes_through_the_layer()
    {
        var upstream = new ScriptedUpstream(HttpStatusCode.BadGateway, HttpStatusCode.OK);
        using var host = await StartAsync(upstream, "", _ => { });

        var client = host.Services.GetRequiredKeyedService<OpenAIClient>("openai");
        Assert.Same(client, host.Services.GetRequiredService<OpenAIClient>());
        var embeddings = await client.GetEmbeddingClient("text-embedding-3-small").GenerateEmbeddingsAsync(["one"], cancellationToken: Ct);

        Assert.Single(embeddings.Value);
        Assert.Equal(["/v1/embeddings 502", "/v1/embeddings 200"], upstream.Seen);
    }

    [Fact]
    public void A_client_with_no_model_anywhere_stops_start_up_saying_where_to_set_one()
    {
        var builder = App("");
        var error = Assert.Throws<InvalidOperationException>(() => builder.AddResilientOpenAI().AddChatClient());

        Assert.Contains("Model=", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:openai", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_string_with_both_Model_and_Deployment_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            OpenAIConnection.Parse("Endpoint=http://upstream.test/v1;Key=k;Model=gpt-4o;Deployment=gpt-4o", "openai"));

        Assert.Contains("both Model= and Deployment=", error.Message, StringComparison.Ordinal);
        Assert.Equal("my-deployment", OpenAIConnection.Parse("Endpoint=http://upstream.test/v1;Key=k;Deployment=my-deployment").DefaultModel);
    }

    private static HostApplicationBuilder App(string extra)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint=http://upstream.test/v1;Key=test-key;{extra}",
            // A 429 or 5xx with no server wait: backoff in milliseconds, the test counts requests.
            ["OpenAI:Resilience:BaseDelay"] = "00:00:00.001",
            ["OpenAI:Resilience:MaxDelay"] = "00:00:00.010",
        });
        return builder;
    }

    private static async Task<IHost> StartAsync(ScriptedUpstream upstream, string extra, Action<ResilientOpenAIBuilder> register)
    {
        var builder = App(extra);
        var app = builder.AddResilientOpenAI();
        app.HttpClient.ConfigurePrimaryHttpMessageHandler(() => upstream);
        register(app);
        var host = builder.Build();
        await host.StartAsync(Ct);
        return host;
    }

    /// <summary>An OpenAI-compatible upstream that answers with the scripted statuses in order, then 200, and logs each request.</summary>
    private sealed class ScriptedUpstream(params HttpStatusCode[] script) : HttpMessageHandler
    {
        private readonly ConcurrentQueue<HttpStatusCode> _script = new(script);
        private readonly ConcurrentQueue<string> _seen = new();
        private readonly ConcurrentQueue<string> _models = new();

        public IReadOnlyList<string> Seen => [.. _seen];

        public IReadOnlyList<string> Models => [.. _models];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            if (System.Text.Json.JsonDocument.Parse(body).RootElement.TryGetProperty("model", out var model))
            {
                _models.Enqueue(model.GetString()!);
            }

            var status = _script.TryDequeue(out var next) ? next : HttpStatusCode.OK;
            var path = request.RequestUri!.AbsolutePath;
            _seen.Enqueue($"{path} {(int)status}");
            var json = status != HttpStatusCode.OK
                ? """{"error":{"message":"scripted","type":"server_error","code":null}}"""
                : path.EndsWith("/embeddings", StringComparison.Ordinal) ? Embeddings(body) : ChatCompletion;
            return new HttpResponseMessage(status) { RequestMessage = request, Content = new StringContent(json, Encoding.UTF8, "application/json") };
        }

        private const string ChatCompletion = """
            {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}
            """;

        private static string Embeddings(string body)
        {
            var inputs = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("input").GetArrayLength();
            var data = string.Join(',', Enumerable.Range(0, inputs).Select(i => $$"""{"object":"embedding","index":{{i}},"embedding":[0.1,0.2,0.3]}"""));
            return $$$"""{"object":"list","data":[{{{data}}}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}""";
        }
    }
}
