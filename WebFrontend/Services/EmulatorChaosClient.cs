using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.WebFrontend.Services;

/// <summary>
/// The emulator's operator API (<c>/emulator/chaos</c>), for the chaos panel. It exists only when the
/// AppHost started the emulator and referenced it from this app; with a real OpenAI endpoint there is
/// nothing to break on purpose, and <see cref="IsAvailable"/> is false.
/// </summary>
public sealed class EmulatorChaosClient(HttpClient http, IConfiguration configuration)
{
    public const string ServiceName = "openai-emulator";
    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>True when service discovery knows the emulator (the AppHost's WithReference).</summary>
    public bool IsAvailable { get; } = IsConfigured(configuration);

    public static bool IsConfigured(IConfiguration configuration) =>
        configuration.GetSection($"services:{ServiceName}").GetChildren().Any();

    /// <summary>The name of the emulator's current chaos profile; "Calm" when it has none.</summary>
    public async Task<string> GetScenarioNameAsync(CancellationToken cancellationToken = default)
    {
        var profile = await http.GetFromJsonAsync<JsonElement>("/emulator/chaos", Json, cancellationToken);
        return profile.TryGetProperty("name", out var name) && name.GetString() is { Length: > 0 } n ? n : ChaosScenario.Calm.Name;
    }

    /// <summary>Replaces the emulator's profile with the scenario's (named after it) and clears this page's script.</summary>
    public async Task ApplyAsync(ChaosScenario scenario, string caller, CancellationToken cancellationToken = default)
    {
        using (var response = await http.PutAsJsonAsync("/emulator/chaos", scenario.ProfileBody(), Json, cancellationToken))
        {
            await EnsureAcceptedAsync(response, cancellationToken);
        }

        await ClearScriptAsync(caller, cancellationToken);
    }

    /// <summary>Drops whatever is left of this page's script.</summary>
    public async Task ClearScriptAsync(string caller, CancellationToken cancellationToken = default)
    {
        using var response = await http.DeleteAsync($"/emulator/chaos/script?caller={Uri.EscapeDataString(caller)}", cancellationToken);
        await EnsureAcceptedAsync(response, cancellationToken);
    }

    /// <summary>Queues exact outcomes for this page's next requests; the emulator's 400 comes back as a <see cref="ChaosException"/>.</summary>
    public async Task ScriptAsync(IReadOnlyList<string> outcomes, string caller, CancellationToken cancellationToken = default)
    {
        using var response = await http.PostAsJsonAsync("/emulator/chaos/script", new { outcomes, caller }, Json, cancellationToken);
        await EnsureAcceptedAsync(response, cancellationToken);
    }

    private static async Task EnsureAcceptedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        // The emulator answers bad input in OpenAI's error shape: {"error":{"message","param",...}}.
        string? message = null;
        try
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, cancellationToken);
            if (body.TryGetProperty("error", out var error) && error.TryGetProperty("message", out var m))
            {
                message = m.GetString();
            }
        }
        catch (JsonException)
        {
            // Not the emulator's error shape; the status says enough.
        }

        throw new ChaosException(message ?? $"The emulator answered {(int)response.StatusCode}.");
    }
}

/// <summary>The emulator refused a chaos setting; the message says why, in the emulator's words.</summary>
public sealed class ChaosException(string message) : Exception(message);
