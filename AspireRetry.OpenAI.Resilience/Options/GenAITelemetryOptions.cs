using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>Section <c>OpenAI:Telemetry</c>: what the GenAI spans of the chat clients record.</summary>
public sealed class GenAITelemetryOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "OpenAI:Telemetry";

    /// <summary>
    /// The variable the OpenTelemetry GenAI instrumentations read (Aspire.OpenAI among them), and Aspire's AppHost sets
    /// in Development: <c>true</c> records prompts and replies.
    /// </summary>
    public const string CaptureMessageContentVariable = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

    /// <summary>
    /// Record prompts and replies on the GenAI spans. Null means: as <see cref="CaptureMessageContentVariable"/> says when
    /// it is set, else on in Development and off elsewhere (conversations are personal data, but in development they make
    /// the dashboard's GenAI view useful).
    /// </summary>
    public bool? CaptureMessageContent { get; set; }

    /// <summary>What <see cref="CaptureMessageContentVariable"/> says (from configuration, which includes the environment); null when it is not set or not a boolean.</summary>
    /// <param name="configuration">The application's configuration.</param>
    public static bool? FromEnvironment(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return bool.TryParse(configuration[CaptureMessageContentVariable], out var capture) ? capture : null;
    }

    /// <summary>Whether the GenAI spans record content: the option (or the variable) when set, else Development.</summary>
    internal static bool Capture(GenAITelemetryOptions options, IHostEnvironment environment) =>
        options.CaptureMessageContent ?? environment.IsDevelopment();
}
