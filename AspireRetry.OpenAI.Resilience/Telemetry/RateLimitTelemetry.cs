using System.Diagnostics.Metrics;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The histogram of the time attempts spent waiting at the gate, and the gate's reason names. The gate's span events
/// are written by <see cref="SpanEvents"/>; names are in <see cref="RetryTelemetryConstants"/>.
/// </summary>
internal sealed class RateLimitTelemetry(IMeterFactory meters)
{
    private readonly Histogram<double> _gateWait = meters.Create(MeterName)
        .CreateHistogram<double>(Metrics.GateWaitDuration, unit: "s",
            description: "Time an upstream attempt waited at the shared rate-limit gate (closed gate, pacing or the first probe).");

    public static string Name(GateWaitReason reason) => reason switch
    {
        GateWaitReason.Closed => "closed",
        GateWaitReason.Paced => "paced",
        _ => "probe",
    };

    public void Waited(string model, GateWaitReason reason, TimeSpan waited) =>
        _gateWait.Record(waited.TotalSeconds,
            new KeyValuePair<string, object?>(Tags.Model, model),
            new KeyValuePair<string, object?>(Tags.GateReason, Name(reason)));
}
