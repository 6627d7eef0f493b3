using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireRetry.ChatApi.Tests;

/// <summary>The API key is never in a log line (at any level), a span, a metric, or a response, even when the upstream rejects it.</summary>
public sealed class SecretTests(ChatApiFixture fixture)
{
    private const string WrongKey = "sk-wrong-7Hq2Lm9Zx4Pv8Rt1";
    private readonly string _caller = $"secret-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_rejected_key_appears_in_no_log_span_or_response()
    {
        var logs = new CapturingLoggerProvider();
        var spans = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => spans.Enqueue(string.Join("|", [a.DisplayName, a.StatusDescription ?? "",
                .. a.TagObjects.Select(t => $"{t.Key}={t.Value}"),
                .. a.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name}:{t.Key}={t.Value}"))])),
        };
        ActivitySource.AddActivityListener(listener);
        var metrics = new ConcurrentQueue<string>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) => l.EnableMeasurementEvents(instrument),
        };
        meters.SetMeasurementEventCallback<long>((i, v, tags, _) => metrics.Enqueue(Describe(i, v, tags)));
        meters.SetMeasurementEventCallback<int>((i, v, tags, _) => metrics.Enqueue(Describe(i, v, tags)));
        meters.SetMeasurementEventCallback<double>((i, v, tags, _) => metrics.Enqueue(Describe(i, v, tags)));
        meters.Start();

        await using var api = fixture.CreateApi(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = $"Endpoint={new Uri(fixture.EmulatorAddress, "/v1")};Key={WrongKey}",
            ["Logging:LogLevel:Default"] = "Trace",
            ["OpenAI:Telemetry:CaptureMessageContent"] = "true",
        }).WithWebHostBuilder(web => web.ConfigureTestServices(services => services.AddSingleton<ILoggerProvider>(logs)));
        var client = ChatApiFixture.ClientFor(api, _caller);

        using var plain = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Is my key safe?"), Ct);
        var plainBody = await plain.Content.ReadAsStringAsync(Ct);
        using var stream = await client.PostAsJsonAsync("/api/chat/stream", ChatApiCalls.Body("Is my key safe?"), Ct);
        var streamBody = await stream.Content.ReadAsStringAsync(Ct);

        // The upstream really did reject it, and the caller was told so in words.
        Assert.Contains("Upstream rejected the API key", plainBody, StringComparison.Ordinal);
        Assert.Contains("Upstream rejected the API key", streamBody, StringComparison.Ordinal);
        Assert.Contains(await fixture.SeenAsync(_caller), r => r.StatusCode == 401);
        Assert.NotEmpty(logs.Lines);
        Assert.Contains(spans, s => s.Contains("gen_ai.", StringComparison.Ordinal));
        Assert.Contains(metrics, m => m.StartsWith("aspireretry.chat.attempts", StringComparison.Ordinal));

        foreach (var text in logs.Lines.Concat(spans).Concat(metrics).Append(plainBody).Append(streamBody))
        {
            Assert.DoesNotContain(WrongKey, text, StringComparison.Ordinal);
            Assert.DoesNotContain(WrongKey[3..], text, StringComparison.Ordinal);
        }
    }

    private static string Describe<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var text = new System.Text.StringBuilder($"{instrument.Name} {instrument.Meter.Name} {value}");
        foreach (var tag in tags)
        {
            text.Append($" {tag.Key}={tag.Value}");
        }

        return text.ToString();
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // The message, every structured value, and the whole exception with its inner ones.
                var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(";", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
                lines.Enqueue($"{category} {logLevel} {formatter(state, exception)} {values} {exception}");
            }
        }
    }
}
