using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireRetry.ChatApi.OpenAI.RateLimit;

/// <summary>
/// How gate, pacing and budget decisions show: span events on the current span (the GenAI
/// <c>chat {model}</c> span, since attempts' HTTP spans start after the gate) and a histogram of the
/// time calls spent waiting at the gate, on the AspireRetry meter.
/// </summary>
public sealed class RateLimitTelemetry(IMeterFactory meters)
{
    public const string GateWaitEvent = "rate_limit.gate_wait";
    public const string GateClosedEvent = "rate_limit.gate_closed";
    public const string GateRejectedEvent = "rate_limit.gate_rejected";
    public const string BudgetExhaustedEvent = "retry_budget.exhausted";

    public const string WaitMs = "rate_limit.wait_ms";
    public const string Reason = "rate_limit.reason";
    public const string Gate = "rate_limit.gate";
    public const string GateState = "rate_limit.gate_state";
    public const string ClosedMs = "rate_limit.closed_ms";
    public const string Cause = "rate_limit.cause";

    public const string GateWaitMetric = "aspireretry.rate_limit.gate_wait.duration";

    private readonly Histogram<double> _gateWait = meters.Create(Extensions.TelemetryNames.AspireRetry)
        .CreateHistogram<double>(GateWaitMetric, unit: "s",
            description: "Time an upstream attempt waited at the shared rate-limit gate (closed gate, pacing or the first probe).");

    public static string Name(GateWaitReason reason) => reason switch
    {
        GateWaitReason.Closed => "closed",
        GateWaitReason.Paced => "paced",
        _ => "probe",
    };

    public void Waited(string model, GateWaitReason reason, TimeSpan waited) =>
        _gateWait.Record(waited.TotalSeconds,
            new KeyValuePair<string, object?>("gen_ai.request.model", model),
            new KeyValuePair<string, object?>(Reason, Name(reason)));

    public static void WaitEvent(RateLimitGate gate, GateWaitReason reason, TimeSpan wait) =>
        Activity.Current?.AddEvent(new ActivityEvent(GateWaitEvent, tags: new ActivityTagsCollection
        {
            [WaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
            [Reason] = Name(reason),
            [Gate] = gate.Name,
        }));

    public static void ClosedEvent(RateLimitGate gate, TimeSpan closedFor, string cause) =>
        Activity.Current?.AddEvent(new ActivityEvent(GateClosedEvent, tags: new ActivityTagsCollection
        {
            [ClosedMs] = (long)Math.Ceiling(closedFor.TotalMilliseconds),
            [Cause] = cause,
            [Gate] = gate.Name,
        }));
}
