extern alias emulator;

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;

namespace AspireRetry.ChatApi.Tests;

[CollectionDefinition(nameof(LoadCollection), DisableParallelization = true)]
public sealed class LoadCollection;

/// <summary>
/// Many concurrent streaming chats against an upstream that fails 20% of the time, on loopback and
/// bounded in time. Short in CI (LOAD_SECONDS, default 5); the documented long profile is 30 s.
/// Runs alone (its own emulator, no parallel tests) so the memory it measures is its own.
/// </summary>
[Collection(nameof(LoadCollection))]
public sealed class LoadTests(ChatApiFixture fixture)
{
    private const int Clients = 100;
    private const int MaxConcurrentChats = 80;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("LOAD_SECONDS"), out var s) ? s : 5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly AspireRetry.OpenAI.Resilience.ResilienceOptions Shipped = new();

    [Fact]
    public async Task Under_load_with_20_percent_faults_every_chat_ends_in_a_reply_or_a_clear_error_and_nothing_leaks()
    {
        await using var upstream = EmulatorApp.Create(["--urls=http://127.0.0.1:0", $"--Emulator:ApiKey={ChatApiFixture.ApiKey}",
            "--Emulator:FirstTokenDelayMs=0", "--Emulator:TokensPerSecond=0", "--Emulator:Seed=7", "--Logging:LogLevel:Default=Error"]);
        await upstream.StartAsync(Ct);
        using var emulatorClient = new HttpClient { BaseAddress = upstream.GetBaseAddress() };
        await using var api = fixture.CreateApi(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint={new Uri(upstream.GetBaseAddress(), "/v1")};Key={ChatApiFixture.ApiKey}",
            ["Chat:RateLimit:MaxConcurrentChats"] = MaxConcurrentChats.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The shipped breaker numbers: 20% failures must not open it. The other tests' 750 ms attempt
            // timeout would count a cold, CPU-starved start (100 chats on 2 cores) as an outage.
            ["OpenAI:Resilience:CircuitBreaker:MinimumThroughput"] = Shipped.CircuitBreaker.MinimumThroughput.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OpenAI:Resilience:CircuitBreaker:FailureRatio"] = Shipped.CircuitBreaker.FailureRatio.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OpenAI:Resilience:CircuitBreaker:SamplingDuration"] = "00:00:30",
            ["OpenAI:Resilience:AttemptTimeout"] = "00:00:10",
            ["OpenAI:Resilience:StreamIdleTimeout"] = "00:00:05",
            ["OpenAI:Resilience:TotalTimeout"] = "00:00:15",
            ["Logging:LogLevel:Default"] = "Error",
        });
        SettledMemory(); // finalise what earlier tests left behind, so what follows is this run's own
        var unobserved = new ConcurrentQueue<string>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) => unobserved.Enqueue(e.Exception.ToString());
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            // Warm up (JIT, pools, the first connections), then take the baseline.
            await RunAsync(api, TimeSpan.FromSeconds(1), new Results());
            var baseline = SettledMemory();

            // Faults start once the service is warm: a sustained 20%, as in production, not a cold start
            // where the breaker's first handful of samples decide everything.
            (await emulatorClient.PutAsJsonAsync("/emulator/chaos", new
            {
                name = "load-20",
                serverError500 = 0.05,
                serviceUnavailable503 = 0.05,
                reset = 0.05,
                midStreamDisconnect = 0.05,
                retryAfterMs = 20,
                disconnectAfterChunks = 5,
            }, Ct)).EnsureSuccessStatusCode();

            var results = new Results();
            await RunAsync(api, Duration, results);
            var after = SettledMemory();

            var summary = results.ToString();
            TestContext.Current.TestOutputHelper?.WriteLine($"{Duration.TotalSeconds:0} s, {Clients} clients: {summary}; memory {baseline / 1048576.0:0.0} MB -> {after / 1048576.0:0.0} MB");
            Assert.True(results.Done > Clients, $"too few chats completed: {summary}");
            Assert.Empty(results.Unexpected);
            Assert.True(results.UpstreamErrors > 0, $"the injected faults should reach callers sometimes (broken streams): {summary}");
            Assert.True(results.Busy > 0, $"{Clients} clients over a cap of {MaxConcurrentChats} should meet 'ChatApi is busy': {summary}");
            Assert.DoesNotContain("Upstream is down", results.ErrorTypes.Keys); // the breaker stayed closed
            Assert.True(unobserved.IsEmpty, $"unobserved task exceptions: {string.Join("\n---\n", unobserved)}");
            var grownMb = (after - baseline) / (1024.0 * 1024.0);
            Assert.True(grownMb < 32, $"managed memory grew by {grownMb:0.0} MB over the run ({summary})");
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        await upstream.StopAsync(Ct);
    }

    private static long SettledMemory()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task RunAsync(Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> api, TimeSpan duration, Results results)
    {
        var stopAt = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Clients).Select(async worker =>
        {
            using var http = api.CreateClient();
            http.DefaultRequestHeaders.Add("X-Chat-Client", $"load-{worker}");
            var n = 0;
            while (stopAt.Elapsed < duration)
            {
                using var hard = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                hard.CancelAfter(TimeSpan.FromSeconds(20)); // a hung chat fails the test instead of stalling it
                await OneChatAsync(http, $"worker {worker} message {n++}", results, hard.Token);
            }
        });
        await Task.WhenAll(workers);
    }

    private static async Task OneChatAsync(HttpClient http, string text, Results results, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.PostAsJsonAsync("/api/chat/stream", ChatApiCalls.Body(text), cancellationToken);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Interlocked.Increment(ref results.Busy);
                await Task.Delay(5, cancellationToken); // a refused client backs off a little, as the page would
                return;
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                results.Unexpected.Add($"status {(int)response.StatusCode}");
                return;
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            string? last = null;
            JsonElement data = default;
            await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
            {
                last = item.EventType;
                data = JsonDocument.Parse(item.Data).RootElement.Clone();
            }

            switch (last)
            {
                case "done":
                    Interlocked.Increment(ref results.Done);
                    break;
                case "error" when data.GetProperty("status").GetInt32() != 500 && data.GetProperty("title").GetString() is { Length: > 0 }:
                    Interlocked.Increment(ref results.UpstreamErrors);
                    results.ErrorTypes.AddOrUpdate(data.GetProperty("title").GetString()!, 1, (_, c) => c + 1);
                    break;
                default:
                    results.Unexpected.Add($"stream ended with '{last}': {data}");
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !Ct.IsCancellationRequested)
        {
            results.Unexpected.Add($"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private sealed class Results
    {
        public int Done;
        public int UpstreamErrors;
        public int Busy;
        public ConcurrentBag<string> Unexpected { get; } = [];
        public ConcurrentDictionary<string, int> ErrorTypes { get; } = new();

        public override string ToString() =>
            $"{Done} replies, {UpstreamErrors} upstream errors ({string.Join(", ", ErrorTypes.Select(p => $"{p.Key}: {p.Value}"))}), {Busy} busy, {Unexpected.Count} unexpected";
    }
}
