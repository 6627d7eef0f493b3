extern alias emulator;

using System.Net.Http.Json;
using System.Text.Json;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Mvc.Testing;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// A second emulator on its own loopback port, for ChatApi with two upstreams: the assembly's emulator is the
/// primary (<c>openai</c>), this one the secondary (<c>openai-2</c>). Each test builds its own ChatApi (so its own
/// breakers and gates) and scripts the primary for its own caller key, so the tests run in parallel.
/// </summary>
public sealed class SecondUpstreamFixture : IAsyncLifetime
{
    private WebApplication? _emulator;

    /// <summary>A plain client for the secondary's own endpoints (/emulator/*).</summary>
    public HttpClient Emulator { get; private set; } = null!;

    public Uri Address { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _emulator = EmulatorApp.Create(
        [
            "--urls=http://127.0.0.1:0",
            $"--Emulator:ApiKey={ChatApiFixture.ApiKey}",
            "--Emulator:FirstTokenDelayMs=0",
            "--Emulator:TokensPerSecond=0",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await _emulator.StartAsync();
        Address = _emulator.GetBaseAddress();
        Emulator = new HttpClient { BaseAddress = Address };
    }

    /// <summary>ChatApi with the assembly's emulator first and this one second, plus the test's own settings.</summary>
    public WebApplicationFactory<Program> CreateApi(ChatApiFixture primary, IReadOnlyDictionary<string, string?>? settings = null) =>
        primary.CreateApi(new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["ConnectionStrings:openai-2"] = $"Endpoint={new Uri(Address, "/v1")};Key={ChatApiFixture.ApiKey}",
        });

    /// <summary>Requests the secondary saw from this caller, in arrival order.</summary>
    public async Task<List<SeenRequest>> SeenAsync(string caller) =>
        await Emulator.GetFromJsonAsync<List<SeenRequest>>($"/emulator/requests?caller={Uri.EscapeDataString(caller)}&limit=1000", JsonSerializerOptions.Web) ?? [];

    public async ValueTask DisposeAsync()
    {
        Emulator.Dispose();
        if (_emulator is not null)
        {
            await _emulator.StopAsync();
            await _emulator.DisposeAsync();
        }
    }
}
