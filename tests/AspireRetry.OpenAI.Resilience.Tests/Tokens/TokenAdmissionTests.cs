using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// Token-aware admission with the real OpenAI SDK against the emulator's token bucket: requests that would overdraw it
/// wait for their tokens instead of meeting a 429, answers settle what they spent, and a request larger than the
/// whole bucket fails at once, unsent.
/// </summary>
public sealed class TokenAdmissionTests : IAsyncLifetime
{
    private const string Key = "token-test-key";
    private InProcessEmulator _emulator = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _emulator = await InProcessEmulator.StartAsync(Key);

    public async ValueTask DisposeAsync() => await _emulator.DisposeAsync();

    [Fact]
    public async Task A_burst_larger_than_the_token_bucket_waits_for_its_tokens_and_meets_no_429()
    {
        // 3,000 tokens a second, requests plenty; 16 calls of about 300 tokens each (prompt and a 40-token completion) at once.
        await _emulator.PutProfileAsync("""
            {"rateLimiter":{"enabled":true,"requestsPerWindow":10000,"tokensPerWindow":3000,"windowMs":1000}}
            """);
        using var host = await StartAsync();
        var chat = host.Services.GetRequiredService<IChatClient>();
        using var waits = GateWaits.Listen(host.Services);
        var prompt = string.Join(' ', Enumerable.Repeat("tokens", 250));

        var replies = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            chat.GetResponseAsync($"{i} {prompt}", new ChatOptions { MaxOutputTokens = 40 }, Ct)));

        Assert.All(replies, reply => Assert.False(string.IsNullOrEmpty(reply.Text)));
        var seen = await _emulator.SeenAsync();
        // The first went alone (the probe), the rest were admitted by their tokens: no 429 of any kind.
        Assert.Equal(Enumerable.Repeat("ok", 16), seen.Select(r => r.Outcome));
        Assert.Contains("tokens", waits.Reasons); // calls waited for tokens, not a 429's closing
    }

    [Fact]
    public async Task A_429_for_one_calls_tokens_does_not_hold_a_smaller_call_that_fits_now()
    {
        // 3,000 tokens in 300 s: ten a second, so a slow machine's pauses between the calls below refill next to nothing.
        var (host, chat, gate) = await StartWithKnownBucketAsync(windowMs: 300_000);
        using var _ = host;

        // Another client of the key (its own gate) spends 2,000 tokens this gate does not know of.
        using (var other = await StartAsync())
        {
            await other.Services.GetRequiredService<IChatClient>().GetResponseAsync(Words(1_990), new ChatOptions { MaxOutputTokens = 10 }, Ct);
        }

        // A call of 1,500 tokens meets the upstream's 429: about 1,000 are left, and its own would fit in about 50 s.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var large = chat.GetResponseAsync(Words(1_490), new ChatOptions { MaxOutputTokens = 10 }, stop.Token);
        await Poll.UntilAsync(async () => (await _emulator.SeenAsync()).Any(r => r.Outcome == "rate_limited_by_bucket"), "the large call's 429");
        await Poll.UntilAsync(() => HasLearnedTheRefusal(gate.Describe()), "the gate learns from the 429");

        // A short call fits in what is left: it goes now, not after the large one's wait.
        var reply = await chat.GetResponseAsync("Hello again", new ChatOptions { MaxOutputTokens = 10 }, Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.False(large.IsCompleted);
        var seen = await _emulator.SeenAsync();
        var refused = seen.Single(r => r.Outcome == "rate_limited_by_bucket");
        Assert.InRange(seen[^1].After(refused), TimeSpan.Zero, TimeSpan.FromSeconds(2.5));
        Assert.Equal("ok", seen[^1].Outcome);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => large);
    }

    [Fact]
    public async Task A_short_call_goes_ahead_of_a_long_one_that_waits_for_its_tokens()
    {
        // 3,000 tokens a minute: fifty a second. After about 2,000 spent, a call of about 1,200 (and its margin) waits several
        // seconds, and may let others ahead: being overtaken for its refill time (about 26 s) and then waiting as long again
        // still fits MaxServerDelay (60 s).
        var (host, chat, gate) = await StartWithKnownBucketAsync(windowMs: 60_000);
        using var _ = host;
        await chat.GetResponseAsync(Words(1_990), new ChatOptions { MaxOutputTokens = 10 }, Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var told = 0;
        var progress = new CallProgress("gpt-4o", report => Interlocked.Increment(ref told));
        Task<ChatResponse> large;
        using (progress.Enter())
        {
            large = chat.GetResponseAsync(Words(1_190), new ChatOptions { MaxOutputTokens = 10 }, stop.Token);
        }

        await Poll.UntilAsync(() => Volatile.Read(ref told) > 0, "the large call is told it waits at the gate");

        // A short call fits in what is left: it is answered now, not after the large one's wait.
        var asked = DateTimeOffset.UtcNow;
        var reply = await chat.GetResponseAsync("Hello again", new ChatOptions { MaxOutputTokens = 10 }, Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.InRange(DateTimeOffset.UtcNow - asked, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.False(large.IsCompleted);
        // The upstream saw the warm-up, the 2,000 and the short call: the large one is still held at the gate, unsent.
        Assert.Equal(["ok", "ok", "ok"], (await _emulator.SeenAsync()).Select(r => r.Outcome));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => large);
    }

    [Fact]
    public async Task A_429_without_a_token_count_still_closes_the_gate_for_every_call()
    {
        var (host, chat, gate) = await StartWithKnownBucketAsync(windowMs: 30_000);
        using var _ = host;

        // A scripted 429 publishes no counts: nothing says it was this call's tokens, so every call waits for the server's wait.
        await _emulator.ScriptAsync("429:retry-after-ms=1000", "ok");
        var reply = chat.GetResponseAsync("Hello again", new ChatOptions { MaxOutputTokens = 10 }, Ct);

        await Poll.UntilAsync(() => gate.Describe().StartsWith("closed", StringComparison.Ordinal), "the gate closes");
        Assert.False(string.IsNullOrEmpty((await reply).Text));
    }

    /// <summary>
    /// An app on an emulator whose token bucket is 3,000 tokens per <paramref name="windowMs"/>, after one short call that
    /// taught its gate the bucket; with that gate.
    /// </summary>
    private async Task<(IHost Host, IChatClient Chat, RateLimitGate Gate)> StartWithKnownBucketAsync(int windowMs)
    {
        await _emulator.PutProfileAsync(
            $$$"""{"rateLimiter":{"enabled":true,"requestsPerWindow":10000,"tokensPerWindow":3000,"windowMs":{{{windowMs}}}}}""");
        var host = await StartAsync();
        var chat = host.Services.GetRequiredService<IChatClient>();
        await chat.GetResponseAsync("Hello tokens", new ChatOptions { MaxOutputTokens = 10 }, Ct);
        var gate = host.Services.GetRequiredService<UpstreamStateRegistry>()
            .Find(host.Services.GetRequiredService<OpenAIUpstreams>().All[0].Name, "gpt-4o")!.Limits.Gate;
        return (host, chat, gate);
    }

    /// <summary>The gate closed on the 429, or re-synced its token mirror on the 429's count (about 1,000 left, not 3,000).</summary>
    private static bool HasLearnedTheRefusal(string gate) =>
        gate.StartsWith("closed", StringComparison.Ordinal)
        || (Regex.Match(gate, @"; (\d+) of 3000 tokens usable") is { Success: true } usable && long.Parse(usable.Groups[1].Value, CultureInfo.InvariantCulture) < 1_500);

    private static string Words(int count) => string.Join(' ', Enumerable.Repeat("tokens", count));

    [Fact]
    public async Task A_request_larger_than_the_configured_token_limit_fails_at_once_unsent_and_says_why()
    {
        using var host = await StartAsync(("OpenAI:Resilience:RateLimit:Limits:gpt-4o:TokensPerMinute", "1000"));
        var chat = host.Services.GetRequiredService<IChatClient>();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => chat.GetResponseAsync(string.Join(' ', Enumerable.Repeat("long", 2_000)), cancellationToken: Ct));

        var tooLarge = Assert.IsType<RequestTooLargeException>(Chain(error).FirstOrDefault(e => e is RequestTooLargeException));
        Assert.Equal(1000, tooLarge.Limit);
        Assert.InRange(tooLarge.Tokens, 2_000, 2_400); // 2,000 words, the chat framing and the completion expected
        Assert.Contains("1000 a minute", tooLarge.Message, StringComparison.Ordinal);
        Assert.Equal(UpstreamFailureKind.RequestTooLarge, UpstreamFailure.Classify(tooLarge)?.Kind);
        Assert.Empty(await _emulator.SeenAsync());
    }

    [Fact]
    public async Task A_streamed_answers_usage_settles_its_reservation_and_teaches_the_next_estimate_the_models_completion_size()
    {
        // 3,000 tokens a minute, none kept in reserve. A prompt of 2,760 words, expecting the default 256-token completion,
        // is more than the bucket: refused, unsent.
        using var host = await StartAsync(
            ("OpenAI:Resilience:RateLimit:Limits:gpt-4o:TokensPerMinute", "3000"), ("OpenAI:Resilience:RateLimit:Reserve", "0"));
        var chat = host.Services.GetRequiredService<IChatClient>();
        using var waits = GateWaits.Listen(host.Services);
        var prompt = string.Join(' ', Enumerable.Repeat("long", 2_760));
        await Assert.ThrowsAnyAsync<Exception>(() => chat.GetResponseAsync(prompt, cancellationToken: Ct));

        // A short streamed answer reports its usage in its last chunk.
        UsageDetails? usage = null;
        await foreach (var update in chat.GetStreamingResponseAsync("Hello tokens", new ChatOptions { MaxOutputTokens = 20 }, Ct))
        {
            usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
        }

        // Settled to that usage, the bucket holds almost all of its 3,000 again; and the same prompt now expects the
        // model's last completion (at most 20 tokens), so it fits, and goes without waiting for tokens.
        Assert.InRange(usage?.OutputTokenCount ?? -1, 1, 20);
        var reply = await chat.GetResponseAsync(prompt, cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(reply.Text));
        Assert.Equal(["ok", "ok"], (await _emulator.SeenAsync()).Select(r => r.Outcome));
        Assert.DoesNotContain("tokens", waits.Reasons);
    }

    [Fact]
    public async Task An_embeddings_call_with_more_inputs_than_one_request_may_carry_is_split_and_comes_back_whole_in_order()
    {
        var builder = App();
        builder.AddResilientOpenAI().AddEmbeddingGenerator("text-embedding-3-small");
        using var host = builder.Build();
        await host.StartAsync(Ct);
        var inputs = Enumerable.Range(0, CallScopeEmbeddingGenerator.MaxInputs + 2).Select(i => $"input {i}").ToList();
        var generator = host.Services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();

        var embeddings = await generator.GenerateAsync(inputs, cancellationToken: Ct);
        var lastAlone = await generator.GenerateAsync([inputs[^1]], cancellationToken: Ct);

        Assert.Equal(inputs.Count, embeddings.Count);
        Assert.Equal(lastAlone[0].Vector.ToArray(), embeddings[^1].Vector.ToArray()); // the last input's vector is last
        Assert.Equal(["ok", "ok", "ok"], (await _emulator.SeenAsync()).Select(r => r.Outcome)); // 2,048 + 2, then the one alone
    }

    [Fact]
    public void Inputs_are_batched_by_the_token_ceiling_and_an_input_larger_than_it_goes_alone()
    {
        var generator = new CallScopeEmbeddingGenerator(new NoGenerator(), "gpt-4o");
        string Words(int n) => string.Join(' ', Enumerable.Repeat("word", n));

        var batches = generator.Batches([Words(400), Words(400), Words(400), Words(2_000), Words(10)], maxTokens: 1_000);

        Assert.Equal([2, 1, 1, 1], batches.Select(b => b.Count));
    }

    private sealed class NoGenerator : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("batching only");

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    private static IEnumerable<Exception> Chain(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            yield return error;
        }
    }

    private HostApplicationBuilder App(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint={_emulator.V1};Key={Key};Model=gpt-4o",
        });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        return builder;
    }

    private async Task<IHost> StartAsync(params (string Key, string Value)[] settings)
    {
        var builder = App(settings);
        builder.AddResilientOpenAI().AddChatClient();
        var host = builder.Build();
        await host.StartAsync(Ct);
        return host;
    }

    /// <summary>The reasons of the gate waits this host's layer recorded.</summary>
    private sealed class GateWaits : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<string> _reasons = [];

        public IReadOnlyList<string> Reasons
        {
            get
            {
                lock (_reasons)
                {
                    return [.. _reasons];
                }
            }
        }

        public static GateWaits Listen(IServiceProvider services)
        {
            var waits = new GateWaits();
            var meters = services.GetRequiredService<IMeterFactory>();
            waits._listener.InstrumentPublished = (instrument, listener) =>
            {
                // Listeners are process-wide: only this host's gate.
                if (instrument.Name == RetryTelemetryConstants.Metrics.GateWaitDuration && instrument.Meter.Scope == meters)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            waits._listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag is { Key: RetryTelemetryConstants.Tags.GateReason, Value: string reason })
                    {
                        lock (waits._reasons)
                        {
                            waits._reasons.Add(reason);
                        }
                    }
                }
            });
            waits._listener.Start();
            return waits;
        }

        public void Dispose() => _listener.Dispose();
    }
}
