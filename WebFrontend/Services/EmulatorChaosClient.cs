using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.WebFrontend.Services;

/// <summary>
/// The emulators' operator API (<c>/emulator/chaos</c>), for the chaos panel. It exists only when the
/// AppHost started the emulators and referenced them from this app; with a real OpenAI endpoint there is
/// nothing to break on purpose, and <see cref="IsAvailable"/> is false. <paramref name="http"/> reaches the
/// primary (<c>openai-emulator</c>); the others (<c>openai-emulator-2</c>, ...) are named clients of the factory.
/// </summary>
public sealed class EmulatorChaosClient(HttpClient http, IHttpClientFactory factory, IConfiguration configuration)
{
    public const string ServiceName = EmulatorNames.First;

    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>True when service discovery knows the emulator (the AppHost's WithReference).</summary>
    public bool IsAvailable { get; } = IsConfigured(configuration);

    /// <summary>The emulators after the primary that service discovery knows, in order: <c>openai-emulator-2</c>, ...</summary>
    public IReadOnlyList<string> Others { get; } = OtherNames(configuration);

    /// <summary>How many emulators this app's upstreams are (0 with a real endpoint).</summary>
    public int Count => IsAvailable ? 1 + Others.Count : 0;

    public static bool IsConfigured(IConfiguration configuration) => IsConfigured(configuration, ServiceName);

    public static IReadOnlyList<string> OtherNames(IConfiguration configuration) =>
        [.. Enumerable.Range(2, EmulatorNames.Max - 1).Select(EmulatorNames.At).TakeWhile(name => IsConfigured(configuration, name))];

    private static bool IsConfigured(IConfiguration configuration, string name) =>
        configuration.GetSection($"services:{name}").GetChildren().Any();

    /// <summary>The name of the emulator's current chaos profile; "Calm" when it has none.</summary>
    public async Task<string> GetScenarioNameAsync(CancellationToken cancellationToken = default)
    {
        var profile = await http.GetFromJsonAsync<JsonElement>("/emulator/chaos", Json, cancellationToken);
        return profile.TryGetProperty("name", out var name) && name.GetString() is { Length: > 0 } n ? n : ChaosScenario.Calm.Name;
    }

    /// <summary>
    /// Replaces the emulators' profile with the scenario's (named after it) and clears this page's script: every
    /// emulator's, or for a <see cref="ChaosScenario.PrimaryOnly"/> scenario the primary's, the others made calm.
    /// </summary>
    public async Task ApplyAsync(ChaosScenario scenario, string caller, CancellationToken cancellationToken = default)
    {
        await PutAsync(http, scenario.ProfileBody(), cancellationToken);
        var others = scenario.PrimaryOnly ? ChaosScenario.Calm.ProfileBody() : scenario.ProfileBody();
        foreach (var name in Others)
        {
            using var other = factory.CreateClient(name);
            await PutAsync(other, others, cancellationToken);
        }

        await ClearScriptAsync(caller, cancellationToken);
    }

    private static async Task PutAsync(HttpClient emulator, IReadOnlyDictionary<string, object> profile, CancellationToken cancellationToken)
    {
        using var response = await emulator.PutAsJsonAsync("/emulator/chaos", profile, Json, cancellationToken);
        await EnsureAcceptedAsync(response, cancellationToken);
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
