using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// The issue's done-when for replicas: the AppHost with <c>--ChatApi:Replicas=3</c> (and its Redis: redis-server from the
/// PATH on CI), the emulator in rate-limit mode (20 requests a second per caller and model), and a burst of 100
/// concurrent chats through ChatApi's endpoint, which spreads them over the replicas. With sharing, every chat ends with
/// a reply and at most 5% of the upstream's answers are 429; the same burst with <c>--ChatApi:SharedState=false</c> is
/// measured and reported alongside (each replica then knows only its own requests).
/// </summary>
public sealed class ReplicasTests
{
    private const int Chats = 100;
    private const int Replicas = 3;

    // Well under what three replicas on this 2-core machine manage together, so the limit, not the machine, sets the pace.
    private const int RequestsPerSecond = 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Three_replicas_sharing_one_rate_limit_answer_a_burst_of_100_chats_with_at_most_5_percent_429s()
    {
        var shared = await BurstAsync(sharing: true);
        var alone = await BurstAsync(sharing: false);

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{Replicas} replicas sharing state through Redis: {shared}");
        output?.WriteLine($"{Replicas} replicas each on its own state:    {alone}");

        Assert.All(shared.Endings, ending => Assert.Equal("200", ending));
        Assert.InRange(shared.RejectedShare, 0, 0.05);
    }

    private static async Task<BurstResult> BurstAsync(bool sharing)
    {
        using var cancel = new CancellationTokenSource(AspireAppFixture.StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = false },
            [
                "--ConnectionStrings:openai=",
                $"--ChatApi:Replicas={Replicas}",
                $"--ChatApi:SharedState={(sharing ? "true" : "false")}",
            ],
            cancel.Token);
        builder.CreateResourceBuilder(AppModel.Project(builder, "chatapi"))
            .WithEnvironment("Chat__RateLimit__PermitsPerWindow", "100000");
        builder.CreateResourceBuilder(AppModel.Project(builder, "openai-emulator"))
            .WithEnvironment("Emulator__FirstTokenDelayMs", "0")
            .WithEnvironment("Emulator__TokensPerSecond", "0");

        await using var app = await builder.BuildAsync(cancel.Token);
        await app.StartAsync(cancel.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("openai-emulator", cancel.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("chatapi", cancel.Token);

        using var emulator = app.CreateHttpClient("openai-emulator", "http");
        (await emulator.PutAsJsonAsync("/emulator/chaos", new
        {
            name = "burst-20-per-second",
            rateLimiter = new { enabled = true, requestsPerWindow = RequestsPerSecond, tokensPerWindow = 10_000_000, windowMs = 1000 },
        }, Ct)).EnsureSuccessStatusCode();

        var caller = $"replicas-{(sharing ? "shared" : "alone")}-{Guid.NewGuid():N}";
        using var chatApi = AppModel.ChatApiFor(app, caller);
        var endings = await Task.WhenAll(Enumerable.Range(0, Chats).Select(async i =>
        {
            using var response = await chatApi.PostAsJsonAsync("/api/chat",
                new { model = "gpt-4o", messages = new[] { new { role = "user", content = $"Burst message {i}" } } }, Ct);
            return response.IsSuccessStatusCode ? "200" : $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}";
        }));

        var seen = await emulator.GetFromJsonAsync<List<JsonElement>>($"/emulator/requests?caller={caller}&limit=1000", Ct) ?? [];
        var rejected = seen.Count(r => r.TryGetProperty("statusCode", out var status) && status.ValueKind == JsonValueKind.Number && status.GetInt32() == 429);
        return new BurstResult(endings, seen.Count, rejected);
    }

    private sealed record BurstResult(string[] Endings, int Requests, int Rejected)
    {
        public double RejectedShare => Requests == 0 ? 0 : (double)Rejected / Requests;

        public override string ToString() =>
            $"{Endings.Count(e => e == "200")} of {Endings.Length} chats answered; {Requests} upstream requests, {Rejected} answered 429 ({RejectedShare:P1})";
    }
}
