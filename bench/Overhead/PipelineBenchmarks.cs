using System.ClientModel.Primitives;
using System.Text;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;
using BenchmarkDotNet.Attributes;
using OpenAI.Chat;

namespace AspireRetry.Bench.Overhead;

/// <summary>
/// One chat completion against the in-process emulator (no latency, no faults), three ways: a bare
/// HttpClient POST (the floor), the OpenAI SDK alone, and ChatApi's full path (ChatService,
/// Microsoft.Extensions.AI with OpenTelemetry, the SDK, the resilience pipeline, the attempt handler and
/// HttpClient tracing). The differences are what the layers cost per call.
/// </summary>
/// <remarks>BenchmarkDotNet derives from benchmark classes, so this one stays unsealed.</remarks>
public class PipelineBenchmarks
{
    private const string Body = """{"model":"gpt-4o","messages":[{"role":"user","content":"In one sentence: why should a client honour Retry-After?"}]}""";

    private EmulatorHost? _emulator;
    private HttpClient? _bare;
    private HttpClient? _sdkHttp;
    private ChatClient? _sdk;
    private AspireRetryPolicy? _chatApi;

    // Separate set-ups, so ChatApi's host (and its process-wide tracer) exists only while its own benchmark runs.
    [GlobalSetup(Targets = [nameof(BareHttpClient), nameof(OpenAISdkAlone)])]
    public async Task SetupClientsAsync()
    {
        _emulator = await StartEmulatorAsync();
        _bare = new HttpClient { BaseAddress = _emulator.BaseAddress };
        _sdkHttp = new HttpClient();
        _sdk = OpenAISdk.Create(_emulator.OpenAIEndpoint, _sdkHttp, new ClientRetryPolicy(maxRetries: 0), OpenAISdk.DefaultNetworkTimeout);
    }

    [GlobalSetup(Target = nameof(ChatApiPipeline))]
    public async Task SetupChatApiAsync()
    {
        _emulator = await StartEmulatorAsync();
        // Real time (1 scenario second = 1000 ms): ChatApi's default options exactly.
        _chatApi = await AspireRetryPolicy.CreateAsync(_emulator.OpenAIEndpoint, new TimeScale(1000), recordAttempts: false);
    }

    private static Task<EmulatorHost> StartEmulatorAsync() =>
        EmulatorHost.StartAsync(firstTokenDelayMs: 0, retryAfterMsOnly: false, seed: 7, tracing: false);

    [Benchmark(Baseline = true, Description = "Bare HttpClient")]
    public async Task<string> BareHttpClient()
    {
        using var content = new StringContent(Body, Encoding.UTF8, "application/json");
        using var response = await _bare!.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), content);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    [Benchmark(Description = "OpenAI SDK, no retry layer")]
    public Task<string?> OpenAISdkAlone() => OpenAISdk.CompleteAsync(_sdk!, Scenarios.ScenarioRun.Prompt, CancellationToken.None);

    [Benchmark(Description = "ChatApi pipeline")]
    public Task<string?> ChatApiPipeline() => _chatApi!.ChatAsync(Scenarios.ScenarioRun.Prompt, CancellationToken.None);

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        if (_chatApi is not null)
        {
            await _chatApi.DisposeAsync();
            _chatApi = null;
        }

        _bare?.Dispose();
        _bare = null;
        _sdkHttp?.Dispose();
        _sdkHttp = null;
        if (_emulator is not null)
        {
            await _emulator.DisposeAsync();
            _emulator = null;
        }
    }
}
