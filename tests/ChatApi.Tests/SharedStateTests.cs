using System.Net.Http.Json;
using AspireRetry.ChatApi.SharedState;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// ChatApi's Redis client, present only when the AppHost gives it <c>ConnectionStrings:redis</c> (replicas), and the state
/// replicas share through it: two ChatApi apps on one real redis-server are two replicas, each with its own container,
/// registry and gates. Each test calls the upstream as its own caller, so the emulator's log says which replica sent what.
/// </summary>
// They run with the load tests, alone: their bursts of 100 chats would otherwise slow the timing-sensitive tests beside them.
[Collection(nameof(LoadCollection))]
public sealed class SharedStateTests(ChatApiFixture fixture, RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private WebApplicationFactory<Program> ApiWithRedis(string connectionString) =>
        fixture.CreateApi(new Dictionary<string, string?> { [$"ConnectionStrings:{SharedStateExtensions.RedisConnectionName}"] = connectionString });

    [Fact]
    public async Task Without_a_redis_connection_string_ChatApi_has_no_Redis_client_and_health_ignores_Redis()
    {
        Assert.Null(fixture.Api.Services.GetService<IConnectionMultiplexer>());

        using var client = fixture.Api.CreateClient();
        Assert.Equal("Healthy", await client.GetStringAsync("/health", Ct));
    }

    [Fact]
    public async Task With_a_redis_connection_string_ChatApi_talks_to_that_Redis_and_is_healthy()
    {
        await using var api = ApiWithRedis(redis.ConnectionString);

        var multiplexer = api.Services.GetRequiredService<IConnectionMultiplexer>();
        // Written through ChatApi's client, read back on a connection of the test's own: the same server.
        var key = $"chatapi-test:{Guid.NewGuid():N}";
        await multiplexer.GetDatabase().StringSetAsync(key, "seen", TimeSpan.FromMinutes(1));
        await using var direct = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.Equal("seen", (string?)await direct.GetDatabase().StringGetAsync(key));

        using var client = api.CreateClient();
        Assert.Equal("Healthy", await client.GetStringAsync("/health", Ct));
    }

    [Fact]
    public async Task An_unreachable_Redis_leaves_ChatApi_running_and_Degraded_not_Unhealthy()
    {
        // Nothing listens there: a replica that starts before Redis, or outlives it.
        await using var api = ApiWithRedis($"127.0.0.1:{RedisServerFixture.FreeLoopbackPort()},connectTimeout=500");

        Assert.False(api.Services.GetRequiredService<IConnectionMultiplexer>().IsConnected);
        using var client = api.CreateClient();
        var asked = System.Diagnostics.Stopwatch.StartNew();
        using var response = await client.GetAsync("/health", Ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Degraded", await response.Content.ReadAsStringAsync(Ct));
        // The client fails commands at once while disconnected (about 7 s measured when it queued them); 4 s leaves room
        // for a loaded CI machine and still fails on a queued ping.
        Assert.InRange(asked.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(4));
    }

    /// <summary>
    /// Two replicas sharing this Redis, with the rate-limit gate on, each with a client whose upstream requests carry a
    /// caller of its own; the Redis is emptied first (the tests of this class share it).
    /// </summary>
    private async Task<TwoReplicas> ReplicasAsync(Dictionary<string, string?>? settings = null)
    {
        await using (var admin = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true"))
        {
            await admin.GetServer(admin.GetEndPoints()[0]).FlushAllDatabasesAsync();
        }

        var all = new Dictionary<string, string?>(settings ?? [])
        {
            [$"ConnectionStrings:{SharedStateExtensions.RedisConnectionName}"] = redis.ConnectionString,
            ["OpenAI:Resilience:RateLimit:Enabled"] = "true",
        };
        return new TwoReplicas(fixture.CreateApi(all), fixture.CreateApi(all));
    }

    private sealed class TwoReplicas : IAsyncDisposable
    {
        private readonly WebApplicationFactory<Program> _a;
        private readonly WebApplicationFactory<Program> _b;

        public TwoReplicas(WebApplicationFactory<Program> a, WebApplicationFactory<Program> b)
        {
            (_a, _b) = (a, b);
            A = ChatApiFixture.ClientFor(a, CallerA);
            B = ChatApiFixture.ClientFor(b, CallerB);
        }

        public string CallerA { get; } = $"replica-a-{Guid.NewGuid():N}";

        public string CallerB { get; } = $"replica-b-{Guid.NewGuid():N}";

        /// <summary>A client of each replica whose upstream requests both carry <paramref name="caller"/>: one key, one bucket upstream.</summary>
        public (HttpClient A, HttpClient B) SameCaller(string caller) => (ChatApiFixture.ClientFor(_a, caller), ChatApiFixture.ClientFor(_b, caller));

        /// <summary>A client of replica A, its upstream requests logged under <see cref="CallerA"/>.</summary>
        public HttpClient A { get; }

        /// <summary>A client of replica B, its upstream requests logged under <see cref="CallerB"/>.</summary>
        public HttpClient B { get; }

        public async ValueTask DisposeAsync()
        {
            A.Dispose();
            B.Dispose();
            await _a.DisposeAsync();
            await _b.DisposeAsync();
        }
    }

    /// <summary>
    /// Two replicas calling with one key share the upstream's token bucket (3,000 tokens a second): a burst of 20 chats of
    /// about 300 tokens each, half through each replica, is twice what the bucket holds. Each replica reserves its
    /// attempts' tokens in the shared state, so together they wait for the refill instead of each spending the whole
    /// bucket it sees in the headers.
    /// </summary>
    [Fact]
    public async Task Two_replicas_share_one_token_bucket_and_a_burst_above_it_meets_no_429_after_the_first_responses()
    {
        await using var replicas = await ReplicasAsync();
        var caller = $"shared-tokens-{Guid.NewGuid():N}";
        var (clientA, clientB) = replicas.SameCaller(caller);
        var profile = await fixture.Emulator.PutAsJsonAsync("/emulator/chaos", new
        {
            name = "shared-token-bucket",
            rateLimiter = new { enabled = true, requestsPerWindow = 100_000, tokensPerWindow = 3_000, windowMs = 1_000 },
        }, Ct);
        profile.EnsureSuccessStatusCode();
        try
        {
            // Each replica's first call is its probe: both learn the token bucket from its headers.
            (await clientA.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("warm up"), Ct)).EnsureSuccessStatusCode();
            (await clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("warm up"), Ct)).EnsureSuccessStatusCode();
            var words = string.Join(' ', Enumerable.Repeat("tokens", 200));

            var chats = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
            {
                using var response = await (i % 2 == 0 ? clientA : clientB).PostAsJsonAsync("/api/chat", ChatApiCalls.Body($"{i} {words}"), Ct);
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync(Ct));
            }));

            Assert.All(chats, chat => Assert.True(chat.StatusCode == System.Net.HttpStatusCode.OK, chat.Body));
            var seen = await fixture.SeenAsync(caller);
            TestContext.Current.TestOutputHelper?.WriteLine($"{seen.Count} upstream requests, {seen.Count(r => r.StatusCode == 429)} refused.");
            Assert.Equal(22, seen.Count);
            Assert.DoesNotContain(seen, r => r.StatusCode == 429);
        }
        finally
        {
            await fixture.Emulator.DeleteAsync("/emulator/chaos", Ct);
            clientA.Dispose();
            clientB.Dispose();
        }
    }

    [Fact]
    public async Task A_429_met_by_one_replica_holds_the_other_replicas_next_request_until_the_servers_wait_is_over()
    {
        await using var replicas = await ReplicasAsync();
        var (clientA, clientB, callerA, callerB) = (replicas.A, replicas.B, replicas.CallerA, replicas.CallerB);

        // Both replicas have learned the upstream's limits (their first call is each one's probe).
        (await clientA.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("warm up"), Ct)).EnsureSuccessStatusCode();
        (await clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("warm up"), Ct)).EnsureSuccessStatusCode();

        await fixture.ScriptAsync(callerA, "429:retry-after-ms=1500");
        var chatA = clientA.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("meets the 429"), Ct);
        var limited = await Poll.UntilAsync(async () => (await fixture.SeenAsync(callerA)).FirstOrDefault(r => r.StatusCode == 429), "replica A's request answered 429");

        var chatB = clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("sent while the gate is closed"), Ct);
        using var responseB = await chatB;
        using var responseA = await chatA;
        responseA.EnsureSuccessStatusCode();
        responseB.EnsureSuccessStatusCode();

        // B's own gate never saw a 429: only the shared one can have held its request.
        var sentByB = (await fixture.SeenAsync(callerB)).Last();
        var heldFor = sentByB.ReceivedAt - limited.ReceivedAt;
        TestContext.Current.TestOutputHelper?.WriteLine($"Replica B's request came {heldFor.TotalMilliseconds:0} ms after replica A's 429 (Retry-After 1500 ms).");
        Assert.True(heldFor >= TimeSpan.FromMilliseconds(1400), $"replica B's request came {heldFor.TotalMilliseconds:0} ms after A's 429 with a 1500 ms wait");
    }

    [Fact]
    public async Task An_outage_seen_by_one_replica_stops_the_other_replicas_requests_until_the_shared_check()
    {
        // Two failures in a row take an upstream down (a quarter of MinimumThroughput 8); the first check comes 1.6-2 s after.
        await using var replicas = await ReplicasAsync(new()
        {
            ["OpenAI:Resilience:CircuitBreaker:MinimumThroughput"] = "8",
            ["OpenAI:Resilience:CircuitBreaker:BreakDuration"] = "00:00:08",
        });
        var (clientA, clientB, callerA, callerB) = (replicas.A, replicas.B, replicas.CallerA, replicas.CallerB);
        (await clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("warm up"), Ct)).EnsureSuccessStatusCode();

        // Replica A meets the outage (its caller's requests fail); replica B's would not, had they been sent.
        await fixture.ScriptAsync(callerA, [.. Enumerable.Repeat("503", 20)]);
        var chatA = clientA.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("meets the outage"), Ct);
        await using var direct = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        await Poll.UntilAsync(async () =>
        {
            var keys = direct.GetServer(direct.GetEndPoints()[0]).KeysAsync(pattern: "aspireretry:*:recovery");
            await foreach (var key in keys)
            {
                if ((string?)await direct.GetDatabase().HashGetAsync(key, "state") == "down")
                {
                    return true;
                }
            }

            return false;
        }, "replica A's 'down' in Redis");
        var down = DateTimeOffset.UtcNow;

        using var responseB = await clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("sent during the outage"), Ct);
        var seenB = (await fixture.SeenAsync(callerB)).Skip(1).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"Replica B: {(int)responseB.StatusCode}; its requests after A's 'down', in ms: {string.Join(", ", seenB.Select(r => (r.ReceivedAt - down).TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.NotEmpty(seenB);
        Assert.All(seenB, r => Assert.True(r.ReceivedAt - down >= TimeSpan.FromSeconds(1), $"replica B sent a request {(r.ReceivedAt - down).TotalMilliseconds:0} ms after A found the upstream down"));

        // B's request after the wait was the shared check: it succeeded, so the upstream is up for A too.
        responseB.EnsureSuccessStatusCode();
        await fixture.ScriptAsync(callerA, "ok");
        (await chatA).Dispose();
    }

    /// <summary>
    /// The issue's fault test: redis-server is killed once the emulator has seen half of a burst of 100 chats spread over two
    /// replicas. No chat fails for it: each replica decides on its own state from then on. A redis-server started again on
    /// the same port is rejoined: the replicas write their shared state there again.
    /// </summary>
    [Fact]
    public async Task Killing_redis_mid_burst_fails_no_chat_and_a_redis_back_on_its_port_is_rejoined()
    {
        var port = RedisServerFixture.FreeLoopbackPort();
        var own = new RedisServerFixture { Port = port };
        await own.InitializeAsync();
        var settings = new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{SharedStateExtensions.RedisConnectionName}"] = own.ConnectionString,
            ["OpenAI:Resilience:RateLimit:Enabled"] = "true",
        };
        await using var a = fixture.CreateApi(settings);
        await using var b = fixture.CreateApi(settings);
        var caller = $"redis-killed-{Guid.NewGuid():N}";
        using var clientA = ChatApiFixture.ClientFor(a, caller);
        using var clientB = ChatApiFixture.ClientFor(b, caller);

        var killed = Task.Run(async () =>
        {
            await Poll.UntilAsync(async () => (await fixture.SeenAsync(caller)).Count >= 50, "50 of the burst's requests");
            await own.DisposeAsync();
        }, Ct);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            using var response = await (i % 2 == 0 ? clientA : clientB).PostAsJsonAsync("/api/chat", ChatApiCalls.Body($"Burst message {i}"), Ct);
            return response.IsSuccessStatusCode ? "ok" : $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}";
        }));
        await killed;

        Assert.All(statuses, status => Assert.Equal("ok", status));
        TestContext.Current.TestOutputHelper?.WriteLine($"{statuses.Length} chats, every one answered; redis-server was killed after the emulator had seen 50 requests.");

        // Back on the same port: after the replicas' retry interval (1 s) and the client's reconnect, they write to it again.
        var back = new RedisServerFixture { Port = port };
        await back.InitializeAsync();
        try
        {
            await using var direct = await ConnectionMultiplexer.ConnectAsync(back.ConnectionString);
            await Poll.UntilAsync(async () =>
            {
                (await clientA.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("after Redis is back"), Ct)).EnsureSuccessStatusCode();
                (await clientB.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("after Redis is back"), Ct)).EnsureSuccessStatusCode();
                await foreach (var _ in direct.GetServer(direct.GetEndPoints()[0]).KeysAsync(pattern: "aspireretry:*:budget"))
                {
                    return true;
                }

                return false;
            }, "the replicas' shared state in the restarted Redis");
        }
        finally
        {
            await back.DisposeAsync();
        }
    }
}
