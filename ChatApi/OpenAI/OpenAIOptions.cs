namespace AspireRetry.ChatApi.OpenAI;

/// <summary>Section <c>OpenAI</c>: which models a user may pick and how calls to them behave.</summary>
public sealed class OpenAIOptions
{
    public const string SectionName = "OpenAI";

    /// <summary>Models offered to users; the first one is the default.</summary>
    public List<string> Models { get; set; } = [];

    public ResilienceOptions Resilience { get; set; } = new();

    public TelemetryOptions Telemetry { get; set; } = new();

    public string DefaultModel => Models.Count > 0 ? Models[0] : "gpt-4o";

    public IReadOnlyList<string> EffectiveModels => Models.Count > 0 ? Models : ["gpt-4o", "gpt-4o-mini"];
}

/// <summary>Section <c>OpenAI:Telemetry</c>.</summary>
public sealed class TelemetryOptions
{
    /// <summary>
    /// Record prompts and replies on the GenAI spans. Null means "on in Development, off elsewhere":
    /// conversations are personal data, but in development they make the dashboard's GenAI view useful.
    /// </summary>
    public bool? CaptureMessageContent { get; set; }
}
