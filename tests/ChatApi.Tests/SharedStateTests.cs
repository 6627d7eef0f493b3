using AspireRetry.ChatApi.SharedState;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi's Redis client: present only when the AppHost gives it <c>ConnectionStrings:redis</c> (replicas).</summary>
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
}
