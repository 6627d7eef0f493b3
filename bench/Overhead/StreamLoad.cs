using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using OpenAI.Chat;

namespace AspireRetry.Bench.Overhead;

/// <summary>
/// Throughput and latency of a closed-loop load: each client sends its next request when the last one ends.
/// <paramref name="CpuMsPerReply"/> is this process's CPU time (clients, upstream and, in its row, ChatApi) per
/// completed reply: steadier than replies/s on a machine whose cores other work shares. <paramref name="AllocatedKbPerReply"/>
/// is what this process allocated per completed reply, counted the same way: the steadiest of the three, since other work
/// on the machine does not change it, and what the garbage collector's share of the CPU time follows.
/// </summary>
public sealed record LoadResult(string Target, int Clients, double Seconds, int Completed, int Failed, double PerSecond, double P50Ms, double P95Ms, double P99Ms, double FirstChunkP50Ms, double CpuMsPerReply, double AllocatedKbPerReply);

/// <summary>
/// A short load run of ChatApi's <c>POST /api/chat/stream</c> on Kestrel (real sockets), with the
/// emulator upstream at zero latency, next to the same load sent straight to the emulator's streaming
/// endpoint: the difference is what ChatApi adds per streamed reply. A third row reads the same load with
/// the official OpenAI SDK alone, which ChatApi must use: how close to the direct row any such proxy can get.
/// </summary>
public static class StreamLoad
{
    /// <summary>The id that <c>--only</c> takes to run only this.</summary>
    public const string Id = "load";

    /// <param name="rounds">
    /// How many times the three rows run, one after the other in turn; each row reports its median round (by replies/s).
    /// One pass in a fixed order measured the first row while nothing was compiled yet and each row under whatever
    /// else the machine did at that moment: the same code measured 24% to 57% of the direct row from run to run.
    /// </param>
    public static async Task<IReadOnlyList<LoadResult>> RunAsync(int clients, TimeSpan duration, int rounds, CancellationToken cancellationToken)
    {
        await using var emulator = await EmulatorHost.StartAsync(firstTokenDelayMs: 0, retryAfterMsOnly: false, seed: 7, tracing: false);
        var warmUp = TimeSpan.FromMilliseconds(Math.Min(500, duration.TotalMilliseconds / 4));
        var message = new { role = "user", content = Scenarios.ScenarioRun.Prompt };
        using var upstream = new HttpClient { BaseAddress = emulator.BaseAddress };
        var upstreamBody = new { model = OpenAISdk.Model, stream = true, messages = new[] { message } };
        var sdk = OpenAISdk.Create(emulator.OpenAIEndpoint, upstream, new ClientRetryPolicy(0), OpenAISdk.DefaultNetworkTimeout);

        var direct = new List<LoadResult>();
        var throughChatApi = new List<LoadResult>();
        var sdkOnly = new List<LoadResult>();
        for (var round = 0; round < rounds; round++)
        {
            // The direct row while no ChatApi host (and so no process-wide tracer) exists.
            await LoadAsync("warm-up", upstream, "/v1/chat/completions", upstreamBody, "[DONE]", clients, warmUp, cancellationToken);
            direct.Add(await LoadAsync("Emulator directly (stream)", upstream, "/v1/chat/completions", upstreamBody, "[DONE]", clients, duration, cancellationToken));

            throughChatApi.Add(await ChatApiLoadAsync(emulator, message, clients, warmUp, duration, cancellationToken));

            // The floor for any proxy that reads the upstream with the official SDK, as ChatApi must: the same load read
            // by the SDK's streaming client alone (no retry pipeline, no telemetry, nothing written back), once ChatApi's
            // host (and its tracer) is gone again.
            await LoadAsync("warm-up", ct => OneSdkAsync(sdk, ct), clients, warmUp, cancellationToken);
            sdkOnly.Add(await LoadAsync("OpenAI SDK directly (stream)", ct => OneSdkAsync(sdk, ct), clients, duration, cancellationToken));
        }

        return [Median(direct), Median(throughChatApi), Median(sdkOnly)];
    }

    private static LoadResult Median(List<LoadResult> rounds) => rounds.OrderBy(r => r.PerSecond).ElementAt(rounds.Count / 2);

    private static async Task<LoadResult> ChatApiLoadAsync(EmulatorHost emulator, object message, int clients, TimeSpan warmUp, TimeSpan duration, CancellationToken cancellationToken)
    {
        var settings = AspireRetryPolicy.Settings(emulator.OpenAIEndpoint, new TimeScale(1000));
        await using var api = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseEnvironment("Production");
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            // This run measures what a chat costs, not ChatApi's admission control: all its clients
            // share one address and would meet the per-client rate limit within a second.
            web.UseSetting("Chat:RateLimit:Enabled", "false");
            foreach (var (key, value) in settings)
            {
                web.UseSetting(key, value);
            }

            web.ConfigureServices(services => services.IgnoreEmulatorRequests());
        });
        // A port of our own choosing by the OS: UseKestrel(0) falls back to the default 5000, which may be taken.
        api.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        api.StartServer();
        using var chatApi = api.CreateClient();
        var chatApiBody = new { model = OpenAISdk.Model, messages = new[] { message } };
        await LoadAsync("warm-up", chatApi, "/api/chat/stream", chatApiBody, "done", clients, warmUp, cancellationToken);
        return await LoadAsync("ChatApi /api/chat/stream", chatApi, "/api/chat/stream", chatApiBody, "done", clients, duration, cancellationToken);
    }

    /// <param name="end">The event type, or the data, that ends a complete reply ("done" for ChatApi, "[DONE]" for OpenAI's stream).</param>
    private static Task<LoadResult> LoadAsync(string target, HttpClient client, string path, object body, string end, int clients, TimeSpan duration, CancellationToken cancellationToken) =>
        LoadAsync(target, ct => OneAsync(client, path, body, end, ct), clients, duration, cancellationToken);

    private static async Task<LoadResult> LoadAsync(string target, Func<CancellationToken, Task<(bool Ok, double LatencyMs, double FirstChunkMs)>> one, int clients, TimeSpan duration, CancellationToken cancellationToken)
    {
        var latencies = new List<double>();
        var firstChunks = new List<double>();
        var failed = 0;
        var gate = new Lock();
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        var elapsed = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (elapsed.Elapsed < duration)
            {
                var (ok, latency, firstChunk) = await one(cancellationToken);
                lock (gate)
                {
                    if (ok)
                    {
                        latencies.Add(latency);
                        firstChunks.Add(firstChunk);
                    }
                    else
                    {
                        failed++;
                    }
                }
            }
        }));

        var seconds = elapsed.Elapsed.TotalSeconds;
        process.Refresh();
        var cpuMs = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds;
        var allocatedKb = (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0;
        var sorted = latencies.Order().ToArray();
        return new LoadResult(target, clients, seconds, sorted.Length, failed, sorted.Length / seconds,
            Percentile.Of(sorted, 0.5), Percentile.Of(sorted, 0.95), Percentile.Of(sorted, 0.99), Percentile.Of([.. firstChunks.Order()], 0.5),
            sorted.Length > 0 ? cpuMs / sorted.Length : double.NaN, sorted.Length > 0 ? allocatedKb / sorted.Length : double.NaN);
    }

    private static async Task<(bool Ok, double LatencyMs, double FirstChunkMs)> OneSdkAsync(ChatClient sdk, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        double firstChunk = double.NaN;
        try
        {
            await foreach (var update in sdk.CompleteChatStreamingAsync([new UserChatMessage(Scenarios.ScenarioRun.Prompt)], cancellationToken: cancellationToken))
            {
                if (double.IsNaN(firstChunk) && update.ContentUpdate.Count > 0)
                {
                    firstChunk = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
            }

            return (true, Stopwatch.GetElapsedTime(started).TotalMilliseconds, firstChunk);
        }
        catch (ClientResultException)
        {
            return (false, 0, 0);
        }
    }

    private static async Task<(bool Ok, double LatencyMs, double FirstChunkMs)> OneAsync(HttpClient client, string path, object body, string end, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        double firstChunk = double.NaN;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = JsonContent.Create(body) };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return (false, 0, 0);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken))
            {
                if (double.IsNaN(firstChunk) && (item.EventType == "delta" || (item.EventType == SseParser.EventTypeDefault && item.Data.Contains("\"content\"", StringComparison.Ordinal))))
                {
                    firstChunk = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (item.EventType == end || item.Data == end)
                {
                    return (true, Stopwatch.GetElapsedTime(started).TotalMilliseconds, firstChunk);
                }

                if (item.EventType == "error")
                {
                    return (false, 0, 0);
                }
            }

            return (false, 0, 0);
        }
        catch (HttpRequestException)
        {
            return (false, 0, 0);
        }
    }
}
