extern alias emulator;

using System.Globalization;
using System.Net.Http.Json;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace AspireRetry.Bench.Upstream;

/// <summary>
/// The OpenAI emulator on a loopback port, in this process, and a client for its operator API
/// (chaos profile, scripts, request log). Every strategy calls it over real sockets.
/// </summary>
public sealed class EmulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _control;

    private EmulatorHost(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        _control = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseAddress { get; }

    /// <summary>What the OpenAI SDK is pointed at.</summary>
    public Uri OpenAIEndpoint => new(BaseAddress, "/v1");

    /// <param name="firstTokenDelayMs">The upstream's service time: the wait before the headers of every clean answer.</param>
    /// <param name="retryAfterMsOnly">Drop <c>retry-after</c> whenever <c>retry-after-ms</c> is sent (see <see cref="RetryAfterMsOnly"/>).</param>
    /// <param name="seed">Seeds the chaos dice, so every strategy's emulator rolls the same sequence.</param>
    /// <param name="tracing">
    /// False samples none of the emulator's spans. Its tracer listens process-wide, so it would otherwise
    /// also trace the HttpClient calls of the client under measurement: the overhead runs turn it off.
    /// </param>
    public static async Task<EmulatorHost> StartAsync(int firstTokenDelayMs, bool retryAfterMsOnly, int seed, bool tracing = true)
    {
        var app = EmulatorApp.Create(
            [
                "--urls=http://127.0.0.1:0",
                string.Create(CultureInfo.InvariantCulture, $"--Emulator:FirstTokenDelayMs={firstTokenDelayMs}"),
                "--Emulator:TokensPerSecond=0",
                string.Create(CultureInfo.InvariantCulture, $"--Emulator:Seed={seed}"),
                "--Logging:LogLevel:Default=Error",
                // The x-ratelimit-* headers publish these limits, and AspireRetry's gate paces to them. The
                // emulator's default (a 500 RPM tier) would pace the overhead runs' thousands of calls to
                // 8 a second; the scenarios that are about rate limits switch the buckets on themselves.
                "--Emulator:Chaos:RateLimiter:RequestsPerWindow=100000000",
                "--Emulator:Chaos:RateLimiter:TokensPerWindow=2000000000",
            ],
            builder =>
            {
                if (retryAfterMsOnly)
                {
                    builder.Services.AddSingleton<IStartupFilter, RetryAfterMsOnly>();
                }

                if (!tracing)
                {
                    builder.Services.AddOpenTelemetry().WithTracing(t => t.SetSampler(new AlwaysOffSampler()));
                }
            });
        await app.StartAsync();
        return new EmulatorHost(app, app.GetBaseAddress());
    }

    /// <summary>Replaces the chaos profile (PUT /emulator/chaos); fields left out go back to their defaults.</summary>
    public async Task SetProfileAsync(object profile, CancellationToken cancellationToken = default)
    {
        using var response = await _control.PutAsJsonAsync("/emulator/chaos", profile, cancellationToken);
        await EnsureAsync(response, cancellationToken);
    }

    public Task CalmAsync(CancellationToken cancellationToken = default) =>
        SetProfileAsync(new { name = "calm" }, cancellationToken);

    /// <summary>
    /// One clean completion for <paramref name="caller"/>, outside any strategy: in rate-limit mode it empties
    /// that caller's request bucket, so the caller's next request meets a real 429 with an exact wait.
    /// </summary>
    public async Task SpendAsync(string caller, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "spend" } } }),
        };
        request.Headers.Add("x-emulator-caller", caller);
        using var response = await _control.SendAsync(request, cancellationToken);
        await EnsureAsync(response, cancellationToken);
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new InvalidOperationException($"The emulator refused {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {body}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _control.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
