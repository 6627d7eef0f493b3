using System.Diagnostics;
using System.Diagnostics.Metrics;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// How gate, pacing and budget decisions show on the span: events on the current span (the GenAI
/// <c>chat {model}</c> span, since attempts' HTTP spans start after the gate) and a histogram of the
/// time calls spent waiting at the gate. Names are in <see cref="RetryTelemetryConstants"/>.
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

    /// <summary>The <see cref="Tags.StateSource"/> value: the decision came from the state replicas share, or this replica's own.</summary>
    public static string Source(bool shared) => shared ? "shared" : "local";

    public static void WaitEvent(RateLimitGate gate, GateWaitReason reason, TimeSpan wait, bool shared = false) =>
        Activity.Current?.AddEvent(new ActivityEvent(Events.GateWait, tags: new ActivityTagsCollection
        {
            [Tags.GateWaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
            [Tags.GateReason] = Name(reason),
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        }));

    public static void ClosedEvent(RateLimitGate gate, TimeSpan closedFor, string cause, bool shared = false) =>
        Activity.Current?.AddEvent(new ActivityEvent(Events.GateClosed, tags: new ActivityTagsCollection
        {
            [Tags.GateClosedMs] = (long)Math.Ceiling(closedFor.TotalMilliseconds),
            [Tags.GateCause] = cause,
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        }));

    public static void RejectedEvent(RateLimitGate gate, TimeSpan wait, TimeSpan left, bool shared = false) =>
        Activity.Current?.AddEvent(new ActivityEvent(Events.GateRejected, tags: new ActivityTagsCollection
        {
            [Tags.GateWaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
            [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        }));

    public static void BudgetExhaustedEvent(RateLimitGate gate, (int Requests, int Retries, int Allowed) budget, string breakerState, string gateState, bool shared = false) =>
        Activity.Current?.AddEvent(new ActivityEvent(Events.BudgetExhausted, tags: new ActivityTagsCollection
        {
            [Tags.BudgetRequests] = budget.Requests,
            [Tags.BudgetRetries] = budget.Retries,
            [Tags.BudgetAllowed] = budget.Allowed,
            [Tags.BreakerState] = breakerState,
            [Tags.GateState] = gateState,
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        }));
}
