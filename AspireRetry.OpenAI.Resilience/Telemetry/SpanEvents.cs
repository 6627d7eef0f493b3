using System.Diagnostics;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Every event the layer adds to the current span: the GenAI <c>chat {model}</c> span, since an attempt's HTTP span
/// starts only after the strategies that decide whether, and when, it goes. Names and tags are in
/// <see cref="RetryTelemetryConstants"/>; this is the one place that writes them.
/// </summary>
internal static class SpanEvents
{
    private static void Add(string name, ActivityTagsCollection? tags = null) =>
        Activity.Current?.AddEvent(new ActivityEvent(name, tags: tags));

    /// <summary>The <see cref="Tags.StateSource"/> value: the decision came from the state replicas share, or this replica's own.</summary>
    public static string Source(bool shared) => shared ? "shared" : "local";

    public static void Retry(int attempt, string reason, TimeSpan delay) => Add(Events.Retry, new()
    {
        [Tags.RetryAttempt] = attempt,
        [Tags.RetryReason] = reason,
        [Tags.RetryDelayMs] = (long)delay.TotalMilliseconds,
    });

    public static void ServerWaitBeyondBudget(TimeSpan wait, TimeSpan left) => Add(Events.ServerWaitBeyondBudget, new()
    {
        [Tags.ServerDelayMs] = (long)wait.TotalMilliseconds,
        [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
    });

    public static void CircuitOpened() => Add(Events.CircuitOpened);

    public static void CircuitClosed() => Add(Events.CircuitClosed);

    public static void CircuitHalfOpened() => Add(Events.CircuitHalfOpened);

    /// <summary>One whole wait for a down upstream, stamped with its start: its first time to the next check, its length, the checks it rode out.</summary>
    public static void RecoveryWait(DateTimeOffset startedAt, TimeSpan nextCheck, TimeSpan waited, int checks, string? upstream, bool shared) =>
        Activity.Current?.AddEvent(new ActivityEvent(Events.RecoveryWait, startedAt, new()
        {
            [Tags.NextCheckMs] = (long)Math.Ceiling(nextCheck.TotalMilliseconds),
            [Tags.RecoveryWaitedMs] = (long)waited.TotalMilliseconds,
            [Tags.RecoveryChecks] = checks,
            [Tags.Upstream] = upstream,
            [Tags.StateSource] = Source(shared),
        }));

    public static void RecoveryRejected(TimeSpan nextCheck, TimeSpan left, string? upstream) => Add(Events.RecoveryRejected, new()
    {
        [Tags.NextCheckMs] = (long)Math.Ceiling(nextCheck.TotalMilliseconds),
        [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
        [Tags.Upstream] = upstream,
    });

    public static void GateWait(RateLimitGate gate, GateWaitReason reason, TimeSpan wait, bool shared = false, long tokens = 0)
    {
        var tags = new ActivityTagsCollection
        {
            [Tags.GateWaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
            [Tags.GateReason] = RateLimitTelemetry.Name(reason),
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        };
        if (reason == GateWaitReason.Tokens)
        {
            tags[Tags.GateTokens] = tokens;
        }

        Add(Events.GateWait, tags);
    }

    public static void GateClosed(RateLimitGate gate, TimeSpan closedFor, string cause, bool shared = false) => Add(Events.GateClosed, new()
    {
        [Tags.GateClosedMs] = (long)Math.Ceiling(closedFor.TotalMilliseconds),
        [Tags.GateCause] = cause,
        [Tags.Gate] = gate.Name,
        [Tags.StateSource] = Source(shared),
    });

    public static void GateRejected(RateLimitGate gate, TimeSpan wait, TimeSpan left, bool shared = false) => Add(Events.GateRejected, new()
    {
        [Tags.GateWaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
        [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
        [Tags.Gate] = gate.Name,
        [Tags.StateSource] = Source(shared),
    });

    public static void BudgetExhausted(RateLimitGate gate, (int Requests, int Retries, int Allowed) budget, string breakerState, string gateState, bool shared = false) =>
        Add(Events.BudgetExhausted, new()
        {
            [Tags.BudgetRequests] = budget.Requests,
            [Tags.BudgetRetries] = budget.Retries,
            [Tags.BudgetAllowed] = budget.Allowed,
            [Tags.BreakerState] = breakerState,
            [Tags.GateState] = gateState,
            [Tags.Gate] = gate.Name,
            [Tags.StateSource] = Source(shared),
        });

    public static void Failover(string from, string to, string reason) => Add(Events.Failover, new()
    {
        [Tags.Upstream] = from,
        [Tags.FailoverTo] = to,
        [Tags.FailoverReason] = reason,
    });
}
