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
            description: "Time an upstream attempt waited at the shared rate-limit gate (closed gate, pacing, tokens or the first probe).", tags: null,
            // Waits from milliseconds (pacing) to a minute (MaxServerDelay): the defaults (0, 5, 10, 25 s...) put them all in the first bucket.
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    private readonly Histogram<double> _estimateRatio = meters.Create(MeterName)
        .CreateHistogram<double>(Metrics.TokenEstimateRatio, unit: "1",
            description: "Tokens an answered call spent over the tokens estimated before it was sent (prompt, or prompt and completion).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4] });

    public static string Name(GateWaitReason reason) => reason switch
    {
        GateWaitReason.Closed => "closed",
        GateWaitReason.Paced => "paced",
        GateWaitReason.Tokens => "tokens",
        _ => "probe",
    };

    /// <summary>One answer's <paramref name="actual"/> tokens over its <paramref name="estimated"/> ones, for <paramref name="part"/> (<c>prompt</c> or <c>total</c>).</summary>
    public void EstimateError(string model, string part, long actual, long estimated)
    {
        if (estimated > 0)
        {
            _estimateRatio.Record((double)actual / estimated,
                new KeyValuePair<string, object?>(Tags.Model, model),
                new KeyValuePair<string, object?>(Tags.TokensPart, part));
        }
    }

    public void Waited(string model, GateWaitReason reason, TimeSpan waited) =>
        _gateWait.Record(waited.TotalSeconds,
            new KeyValuePair<string, object?>(Tags.Model, model),
            new KeyValuePair<string, object?>(Tags.GateReason, Name(reason)));
}
