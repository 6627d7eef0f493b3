using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime;
using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;

namespace AspireRetry.Bench.Overhead;

/// <summary>
/// Throughput and latency of a closed-loop load: each client sends its next request when the last one ends.
/// <paramref name="CpuMsPerReply"/> is this process's CPU time (clients, upstream and, in its row, ChatApi) per
/// completed reply: steadier than replies/s on a machine whose cores other work shares. <paramref name="AllocatedKbPerReply"/>
/// is what this process allocated per completed reply, counted the same way: the steadiest of the three, since other work
/// on the machine does not change it, and what the garbage collector's share of the CPU time follows.
/// <paramref name="JitMethods"/> is how many methods the JIT compiled while the row ran (tier-up still going on when it is
/// more than a few), <paramref name="Gen0PerThousand"/> the gen-0 collections per 1,000 replies, and
/// <paramref name="EventsPerReply"/> the events (SSE items, or the SDK's updates) each reply came in.
/// </summary>
public sealed record LoadResult(
    string Target, int Clients, double Seconds, int Completed, int Failed, double PerSecond, double P50Ms, double P95Ms, double P99Ms, double FirstChunkP50Ms,
    double CpuMsPerReply, double AllocatedKbPerReply, int JitMethods = 0, double Gen0PerThousand = 0, double EventsPerReply = 0);

/// <summary>One row of the load table: the same load in each round; each figure is reported as its median over the rounds.</summary>
public sealed record LoadRow(string Target, int Clients, IReadOnlyList<LoadResult> Rounds)
{
    public double Median(Func<LoadResult, double> metric) => LoadStats.Median(Rounds.Select(metric));

    public int Completed => Rounds.Sum(r => r.Completed);

    public int Failed => Rounds.Sum(r => r.Failed);
}

/// <summary>
/// A figure of ChatApi's row against the SDK-only row, paired round by round (the two ran in the same round, so they met
/// the same machine), with its goal: the median over the rounds, and their spread.
/// </summary>
/// <param name="Floors">The same figure for the minimal proxies' rows, paired the same way: what any proxy on the SDK (and on its IChatClient) pays here.</param>
public sealed record LoadComparison(string Name, IReadOnlyList<double> PerRound, string Unit, string Goal, Func<double, bool> Meets, IReadOnlyList<LoadFloor> Floors)
{
    public double Median => LoadStats.Median(PerRound);

    public double Min => PerRound.Count > 0 ? PerRound.Min() : double.NaN;

    public double Max => PerRound.Count > 0 ? PerRound.Max() : double.NaN;

    public bool Met => !double.IsNaN(Median) && Meets(Median);

    /// <summary>Whether <paramref name="floor"/>'s median meets the goal too.</summary>
    public bool MetBy(LoadFloor floor) => !double.IsNaN(floor.Median) && Meets(floor.Median);
}

/// <summary>A minimal proxy's figure against the SDK-only row, paired by round.</summary>
public sealed record LoadFloor(string Target, IReadOnlyList<double> PerRound)
{
    public double Median => LoadStats.Median(PerRound);
}

/// <summary>What the load run measured: the rows at full load, the rows at one client, and how long warming up took.</summary>
public sealed record LoadRun(IReadOnlyList<LoadRow> Rows, IReadOnlyList<LoadRow> SingleClient, int Rounds, TimeSpan RowDuration, TimeSpan WarmUp, int WarmUpJitMethods)
{
    public static LoadRun Empty { get; } = new([], [], 0, TimeSpan.Zero, TimeSpan.Zero, 0);

    public IEnumerable<LoadRow> AllRows => Rows.Concat(SingleClient);

    private LoadRow? Find(IReadOnlyList<LoadRow> rows, string target) => rows.FirstOrDefault(r => r.Target == target);

    /// <summary>ChatApi against the SDK alone, with the goals of issue 24, paired by round.</summary>
    public IReadOnlyList<LoadComparison> Comparisons
    {
        get
        {
            if (Find(Rows, StreamLoad.ChatApiTarget) is not { } api || Find(Rows, StreamLoad.SdkTarget) is not { } sdk)
            {
                return [];
            }

            LoadRow[] proxies = [.. new[] { StreamLoad.MinimalProxyTarget, StreamLoad.MinimalAiProxyTarget }.Select(t => Find(Rows, t)).OfType<LoadRow>()];

            List<double> Paired(LoadRow a, LoadRow b, Func<LoadResult, LoadResult, double> f) =>
                [.. a.Rounds.Zip(b.Rounds, f).Where(v => !double.IsNaN(v))];

            LoadComparison Compare(string name, Func<LoadResult, LoadResult, double> f, string unit, string goal, Func<double, bool> meets) =>
                new(name, Paired(api, sdk, f), unit, goal, meets, [.. proxies.Select(p => new LoadFloor(p.Target, Paired(p, sdk, f)))]);

            var comparisons = new List<LoadComparison>
            {
                Compare("Allocated per reply, over the SDK-only row", (a, b) => a.AllocatedKbPerReply - b.AllocatedKbPerReply, " KB", "at most +40 KB", v => v <= 40),
                Compare("CPU per reply, times the SDK-only row's", (a, b) => a.CpuMsPerReply / b.CpuMsPerReply, "x", "at most 1.3x", v => v <= 1.3),
                Compare("Replies/s, share of the SDK-only row's", (a, b) => a.PerSecond / b.PerSecond, "%", "at least 80%", v => v >= 0.8),
            };
            if (Find(SingleClient, StreamLoad.ChatApiTarget) is { } api1 && Find(SingleClient, StreamLoad.SdkTarget) is { } sdk1)
            {
                comparisons.Add(new("First chunk p50 at 1 client, over the SDK-only row's", Paired(api1, sdk1, (a, b) => a.FirstChunkP50Ms - b.FirstChunkP50Ms), " ms", "within 1 ms", v => v <= 1, []));
            }

            return comparisons;
        }
    }
}

public static class LoadStats
{
    /// <summary>The median of the figures that are numbers (nearest rank, as every percentile of the bench; NaN when none is).</summary>
    public static double Median(IEnumerable<double> values) => Percentile.Of([.. values.Where(v => !double.IsNaN(v)).Order()], 0.5);
}

/// <summary>
/// A load run of ChatApi's <c>POST /api/chat/stream</c> on Kestrel (real sockets), with the emulator upstream at zero
/// latency, next to the same load sent straight to the emulator's streaming endpoint: the difference is what ChatApi adds
/// per streamed reply. A third row reads the same load with the official OpenAI SDK alone, which ChatApi must use: how
/// close to the direct row any such proxy can get; two more are a minimal proxy on that SDK, and the same on its
/// IChatClient (<see cref="MinimalProxy"/>): what any such proxy pays on this machine, and what the IChatClient shape adds.
/// The five rows run in turn in each round (the order alternating from
/// round to round), after a warm-up that lasts until the JIT has stopped compiling; each figure is the median of the
/// rounds, and ChatApi is compared with the SDK-only row round by round. The ChatApi and SDK-only rows are also run with one
/// client, for the latency a person feels.
/// </summary>
public static class StreamLoad
{
    /// <summary>The id that <c>--only</c> takes to run only this.</summary>
    public const string Id = "load";

    public const string DirectTarget = "Emulator directly (stream)";
    public const string ChatApiTarget = "ChatApi /api/chat/stream";
    public const string SdkTarget = "OpenAI SDK directly (stream)";
    public const string MinimalProxyTarget = "Minimal proxy on the SDK (stream)";
    public const string MinimalAiProxyTarget = "Minimal proxy on the SDK's IChatClient (stream)";

    /// <summary>Warm-up slices stop once one compiles fewer methods than this (tier-up over).</summary>
    private const int QuietJitMethods = 50;

    private delegate Task<(bool Ok, double LatencyMs, double FirstChunkMs, int Events)> OneReply(CancellationToken cancellationToken);

    /// <param name="clients">Clients of the full-load rows.</param>
    /// <param name="duration">How long each row runs in each round.</param>
    /// <param name="rounds">
    /// How many times the rows run. One pass in a fixed order measured the first row while nothing was compiled yet and each
    /// row under whatever else the machine did at that moment: the same code measured 24% to 57% of the direct row from run
    /// to run.
    /// </param>
    /// <param name="singleClientDuration">How long the one-client rows run in each round (zero: none).</param>
    /// <param name="maxWarmUp">The longest the warm-up may take before the rounds start, whether or not the JIT is quiet by then.</param>
    public static async Task<LoadRun> RunAsync(int clients, TimeSpan duration, int rounds, TimeSpan singleClientDuration, TimeSpan maxWarmUp, CancellationToken cancellationToken)
    {
        await using var emulator = await EmulatorHost.StartAsync(firstTokenDelayMs: 0, retryAfterMsOnly: false, seed: 7, tracing: false);
        var message = new { role = "user", content = Scenarios.ScenarioRun.Prompt };
        using var upstream = new HttpClient { BaseAddress = emulator.BaseAddress };
        var upstreamBody = new { model = OpenAISdk.Model, stream = true, messages = new[] { message } };
        var sdk = OpenAISdk.Create(emulator.OpenAIEndpoint, upstream, new ClientRetryPolicy(0), OpenAISdk.DefaultNetworkTimeout);
        OneReply direct = ct => OneAsync(upstream, "/v1/chat/completions", upstreamBody, "[DONE]", ct);
        OneReply sdkOnly = ct => OneSdkAsync(sdk, ct);
        var chatApiBody = new { model = OpenAISdk.Model, messages = new[] { message } };
        await using var proxy = await MinimalProxy.StartAsync(sdk);
        OneReply viaProxy = ct => OneAsync(proxy.Client, "/stream", chatApiBody, "done", ct);
        OneReply viaAiProxy = ct => OneAsync(proxy.Client, "/stream-ai", chatApiBody, "done", ct);

        // Until the JIT is done: every row's code compiled and tiered up before anything is measured.
        var warmUp = Stopwatch.StartNew();
        var jitBefore = JitInfo.GetCompiledMethodCount();
        var slice = TimeSpan.FromMilliseconds(Math.Min(1000, duration.TotalMilliseconds));
        await using (var api = ChatApiHost.Start(emulator))
        {
            OneReply viaApi = ct => OneAsync(api.Client, "/api/chat/stream", chatApiBody, "done", ct);
            do
            {
                var compiled = JitInfo.GetCompiledMethodCount();
                foreach (var one in new[] { direct, viaApi, viaProxy, viaAiProxy, sdkOnly })
                {
                    await LoadAsync("warm-up", one, clients, slice, cancellationToken);
                }

                if (JitInfo.GetCompiledMethodCount() - compiled < QuietJitMethods)
                {
                    break;
                }
            }
            while (warmUp.Elapsed < maxWarmUp);
        }

        var warmUpJit = (int)(JitInfo.GetCompiledMethodCount() - jitBefore);
        warmUp.Stop();

        var rows = new Dictionary<string, List<LoadResult>> { [DirectTarget] = [], [ChatApiTarget] = [], [MinimalProxyTarget] = [], [MinimalAiProxyTarget] = [], [SdkTarget] = [] };
        var single = new Dictionary<string, List<LoadResult>> { [ChatApiTarget] = [], [SdkTarget] = [] };
        var rowWarmUp = TimeSpan.FromMilliseconds(Math.Min(500, duration.TotalMilliseconds / 4));
        for (var round = 0; round < rounds; round++)
        {
            // Alternating, so that neither row always follows the other's garbage or a fresh host's start.
            string[] order = round % 2 == 0
                ? [DirectTarget, ChatApiTarget, MinimalAiProxyTarget, MinimalProxyTarget, SdkTarget]
                : [SdkTarget, MinimalProxyTarget, MinimalAiProxyTarget, ChatApiTarget, DirectTarget];
            foreach (var target in order)
            {
                if (target == ChatApiTarget)
                {
                    // A host of its own each round (its pools, gate and JSON metadata warmed by a short load first).
                    await using var api = ChatApiHost.Start(emulator);
                    OneReply viaApi = ct => OneAsync(api.Client, "/api/chat/stream", chatApiBody, "done", ct);
                    // Three times the others' warm-up: a new host compiles its own (its container's and endpoints' code).
                    await LoadAsync("warm-up", viaApi, clients, rowWarmUp * 3, cancellationToken);
                    rows[target].Add(await MeasureAsync(target, viaApi, clients, duration, cancellationToken));
                    if (singleClientDuration > TimeSpan.Zero)
                    {
                        single[target].Add(await MeasureAsync(target, viaApi, 1, singleClientDuration, cancellationToken));
                    }

                    continue;
                }

                var one = target switch { DirectTarget => direct, MinimalProxyTarget => viaProxy, MinimalAiProxyTarget => viaAiProxy, _ => sdkOnly };
                await LoadAsync("warm-up", one, clients, rowWarmUp, cancellationToken);
                rows[target].Add(await MeasureAsync(target, one, clients, duration, cancellationToken));
                if (target == SdkTarget && singleClientDuration > TimeSpan.Zero)
                {
                    single[target].Add(await MeasureAsync(target, one, 1, singleClientDuration, cancellationToken));
                }
            }
        }

        return new LoadRun(
            [.. rows.Select(r => new LoadRow(r.Key, clients, r.Value))],
            [.. single.Where(r => r.Value.Count > 0).Select(r => new LoadRow(r.Key, 1, r.Value))],
            rounds, duration, warmUp.Elapsed, warmUpJit);
    }

    /// <summary>A measured row: the garbage of what ran before is collected first, outside the clock.</summary>
    private static Task<LoadResult> MeasureAsync(string target, OneReply one, int clients, TimeSpan duration, CancellationToken cancellationToken)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return LoadAsync(target, one, clients, duration, cancellationToken);
    }

    /// <summary>ChatApi on Kestrel in this process, with its Production settings, and a plain client of it.</summary>
    private sealed class ChatApiHost : IAsyncDisposable
    {
        private readonly WebApplicationFactory<Program> _factory;

        private ChatApiHost(WebApplicationFactory<Program> factory, HttpClient client)
        {
            _factory = factory;
            Client = client;
        }

        /// <summary>
        /// A plain client on ChatApi's socket: not the factory's, whose redirect and cookie handlers would be charged to
        /// ChatApi's row.
        /// </summary>
        public HttpClient Client { get; }

        public static ChatApiHost Start(EmulatorHost emulator)
        {
            var settings = AspireRetryPolicy.Settings(emulator.OpenAIEndpoint, new TimeScale(1000));
            var api = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
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
            var address = api.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new ChatApiHost(api, new HttpClient { BaseAddress = new Uri(address) });
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _factory.DisposeAsync();
        }
    }

    private static async Task<LoadResult> LoadAsync(string target, OneReply one, int clients, TimeSpan duration, CancellationToken cancellationToken)
    {
        var latencies = new List<double>();
        var firstChunks = new List<double>();
        long events = 0;
        var failed = 0;
        var gate = new Lock();
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var jitBefore = JitInfo.GetCompiledMethodCount();
        var gen0Before = GC.CollectionCount(0);
        var elapsed = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (elapsed.Elapsed < duration)
            {
                var (ok, latency, firstChunk, count) = await one(cancellationToken);
                lock (gate)
                {
                    if (ok)
                    {
                        latencies.Add(latency);
                        firstChunks.Add(firstChunk);
                        events += count;
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
        var allocatedKb = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1024.0;
        var jit = (int)(JitInfo.GetCompiledMethodCount() - jitBefore);
        var gen0 = GC.CollectionCount(0) - gen0Before;
        var sorted = latencies.Order().ToArray();
        var n = sorted.Length;
        return new LoadResult(target, clients, seconds, n, failed, n / seconds,
            Percentile.Of(sorted, 0.5), Percentile.Of(sorted, 0.95), Percentile.Of(sorted, 0.99), Percentile.Of([.. firstChunks.Where(c => !double.IsNaN(c)).Order()], 0.5),
            n > 0 ? cpuMs / n : double.NaN, n > 0 ? allocatedKb / n : double.NaN, jit, n > 0 ? gen0 * 1000.0 / n : double.NaN, n > 0 ? (double)events / n : double.NaN);
    }

    /// <summary>One streamed reply read by the SDK alone; its first chunk is the first update with text (as in the other rows).</summary>
    private static async Task<(bool Ok, double LatencyMs, double FirstChunkMs, int Events)> OneSdkAsync(ChatClient sdk, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        double firstChunk = double.NaN;
        var events = 0;
        try
        {
            await foreach (var update in sdk.CompleteChatStreamingAsync([new UserChatMessage(Scenarios.ScenarioRun.Prompt)], cancellationToken: cancellationToken))
            {
                events++;
                if (double.IsNaN(firstChunk) && update.ContentUpdate.Count > 0 && update.ContentUpdate[0].Text is { Length: > 0 })
                {
                    firstChunk = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
            }

            return (true, Stopwatch.GetElapsedTime(started).TotalMilliseconds, firstChunk, events);
        }
        catch (ClientResultException)
        {
            return (false, 0, 0, 0);
        }
    }

    /// <summary>
    /// One streamed reply read as SSE; its first chunk is the first event with text (ChatApi's first <c>delta</c>, OpenAI's
    /// first chunk whose content is not empty: the role chunk's is).
    /// </summary>
    /// <param name="end">The event type, or the data, that ends a complete reply ("done" for ChatApi, "[DONE]" for OpenAI's stream).</param>
    private static async Task<(bool Ok, double LatencyMs, double FirstChunkMs, int Events)> OneAsync(HttpClient client, string path, object body, string end, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        double firstChunk = double.NaN;
        var events = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = JsonContent.Create(body) };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return (false, 0, 0, 0);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken))
            {
                events++;
                if (double.IsNaN(firstChunk) && (item.EventType == "delta" || (item.EventType == SseParser.EventTypeDefault && HasText(item.Data))))
                {
                    firstChunk = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (item.EventType == end || item.Data == end)
                {
                    return (true, Stopwatch.GetElapsedTime(started).TotalMilliseconds, firstChunk, events);
                }

                if (item.EventType == "error")
                {
                    return (false, 0, 0, 0);
                }
            }

            return (false, 0, 0, 0);
        }
        catch (HttpRequestException)
        {
            return (false, 0, 0, 0);
        }
    }

    private static bool HasText(string data) =>
        data.Contains("\"content\":\"", StringComparison.Ordinal) && !data.Contains("\"content\":\"\"", StringComparison.Ordinal);
}
