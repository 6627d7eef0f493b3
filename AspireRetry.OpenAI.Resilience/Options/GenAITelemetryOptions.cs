namespace AspireRetry.OpenAI.Resilience;

/// <summary>Section <c>OpenAI:Telemetry</c>: what the GenAI spans of the chat clients record.</summary>
public sealed class GenAITelemetryOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "OpenAI:Telemetry";

    /// <summary>
    /// Record prompts and replies on the GenAI spans. Null means "on in Development, off elsewhere":
    /// conversations are personal data, but in development they make the dashboard's GenAI view useful.
    /// </summary>
    public bool? CaptureMessageContent { get; set; }
}
