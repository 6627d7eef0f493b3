namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Every name under which an attempt, a wait or a decision of the retry layer shows in telemetry: span
/// attributes of each attempt, events on the enclosing (GenAI) span, the metric, and the events reported
/// through Polly's telemetry (<c>resilience.polly.strategy.events</c>). The one place that says how an
/// attempt is tagged; the library's README lists them as a table.
/// </summary>
public static class RetryTelemetryConstants
{
    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the library's instruments.</summary>
    public const string MeterName = "AspireRetry";

    /// <summary>Name of the resilience pipeline (and of the HttpClient) that calls the upstream.</summary>
    public const string PipelineName = "openai";

    /// <summary>Polly strategy names, as they appear in Polly's logs and metrics (<c>strategy.name</c>).</summary>
    public static class Strategies
    {
        /// <summary>The budget of a whole call, every attempt and wait included.</summary>
        public const string TotalTimeout = "total";

        /// <summary>Time to response headers of one attempt.</summary>
        public const string AttemptTimeout = "attempt";

        /// <summary>The shared rate-limit gate (and the retry budget's decisions).</summary>
        public const string RateLimitGate = "rate-limit-gate";

        /// <summary>Waiting for a down upstream to recover (between the retry and the circuit breaker).</summary>
        public const string RecoveryGate = "recovery-gate";
    }

    /// <summary>Attributes of each attempt's HTTP client span.</summary>
    public static class Attempt
    {
        /// <summary>1 for the first attempt of a pipeline run, 2, 3, ... for retries.</summary>
        public const string Number = "retry.attempt";

        /// <summary>Semantic conventions: absent on the first attempt, 1, 2, ... on resends.</summary>
        public const string ResendCount = "http.request.resend_count";

        /// <summary>Why the attempt before this one failed ("429 rate_limit_exceeded", "503", "attempt timeout").</summary>
        public const string PreviousOutcome = "retry.previous_outcome";

        /// <summary>How long the layer waited before sending this attempt, in milliseconds.</summary>
        public const string DelayMs = "retry.delay_ms";

        /// <summary>
        /// The upstream the attempt went to: its connection string's name (<c>openai</c>, <c>openai-2</c>), short and never
        /// secret; <c>server.address</c> beside it (from the HttpClient instrumentation) says where that is.
        /// </summary>
        public const string Upstream = "upstream.name";

        /// <summary>
        /// The tokens the attempt reserved at the gate: its prompt counted with the model's tokenizer plus its completion
        /// budget. What it spent is the GenAI span's <c>gen_ai.usage.input_tokens</c> and <c>gen_ai.usage.output_tokens</c>.
        /// </summary>
        public const string EstimatedTokens = "aspireretry.tokens.estimated";
    }

    /// <summary>Events added to the current span (the GenAI <c>chat {model}</c> span) and their attributes.</summary>
    public static class Events
    {
        /// <summary>A retry is scheduled: <see cref="Tags.RetryAttempt"/>, <see cref="Tags.RetryReason"/>, <see cref="Tags.RetryDelayMs"/>.</summary>
        public const string Retry = "retry";

        /// <summary>A server wait does not fit the budget, so the call stops: <see cref="Tags.ServerDelayMs"/>, <see cref="Tags.BudgetLeftMs"/>.</summary>
        public const string ServerWaitBeyondBudget = "retry.budget_exceeded";

        /// <summary>The circuit breaker opened: its failure ratio says the upstream is down (calls now wait for <see cref="RecoveryWait"/>).</summary>
        public const string CircuitOpened = "circuit_breaker.opened";

        /// <summary>The circuit breaker closed again.</summary>
        public const string CircuitClosed = "circuit_breaker.closed";

        /// <summary>The circuit breaker lets one probe through.</summary>
        public const string CircuitHalfOpened = "circuit_breaker.half_opened";

        /// <summary>
        /// A call met the open breaker and waited for the upstream to recover: one event per wait, stamped with its start and
        /// written when it ends, with <see cref="Tags.NextCheckMs"/> (when it began), <see cref="Tags.RecoveryWaitedMs"/> (its length)
        /// and <see cref="Tags.RecoveryChecks"/>.
        /// </summary>
        public const string RecoveryWait = "circuit_breaker.recovery_wait";

        /// <summary>The next check is further away than the call may wait, so it fails at once: <see cref="Tags.NextCheckMs"/>, <see cref="Tags.BudgetLeftMs"/>.</summary>
        public const string RecoveryRejected = "circuit_breaker.recovery_rejected";

        /// <summary>An attempt waits at the shared gate: <see cref="Tags.GateWaitMs"/>, <see cref="Tags.GateReason"/>, <see cref="Tags.Gate"/>.</summary>
        public const string GateWait = "rate_limit.gate_wait";

        /// <summary>A response closed the gate: <see cref="Tags.GateClosedMs"/>, <see cref="Tags.GateCause"/>, <see cref="Tags.Gate"/>.</summary>
        public const string GateClosed = "rate_limit.gate_closed";

        /// <summary>The gate's wait is beyond the call's budget, so it fails at once: <see cref="Tags.GateWaitMs"/>, <see cref="Tags.BudgetLeftMs"/>, <see cref="Tags.Gate"/>.</summary>
        public const string GateRejected = "rate_limit.gate_rejected";

        /// <summary>The retry budget is spent, so a retry is not made: the budget's counts, breaker and gate state.</summary>
        public const string BudgetExhausted = "retry_budget.exhausted";

        /// <summary>The call leaves one upstream for the next: <see cref="Tags.Upstream"/> (from), <see cref="Tags.FailoverTo"/>, <see cref="Tags.FailoverReason"/>.</summary>
        public const string Failover = "upstream.failover";
    }

    /// <summary>Attributes of the events in <see cref="Events"/> and tags of the metric.</summary>
    public static class Tags
    {
        /// <summary>Number of the attempt that follows the retry.</summary>
        public const string RetryAttempt = Attempt.Number;

        /// <summary>Why the retry happens (the failed attempt's outcome).</summary>
        public const string RetryReason = "retry.reason";

        /// <summary>The wait before the retry, in milliseconds.</summary>
        public const string RetryDelayMs = Attempt.DelayMs;

        /// <summary>The server's wait, in milliseconds.</summary>
        public const string ServerDelayMs = "retry.server_delay_ms";

        /// <summary>What was left of the total budget, in milliseconds.</summary>
        public const string BudgetLeftMs = "retry.budget_left_ms";

        /// <summary>Time until the breaker checks the down upstream again, in milliseconds (0: a check is under way).</summary>
        public const string NextCheckMs = "circuit_breaker.next_check_ms";

        /// <summary>How long the call waited for the upstream to recover, in milliseconds: the length of one wait.</summary>
        public const string RecoveryWaitedMs = "circuit_breaker.waited_ms";

        /// <summary>How many checks of the down upstream (another call's attempts) a wait rode out.</summary>
        public const string RecoveryChecks = "circuit_breaker.checks";

        /// <summary>The breaker's state (Closed, Open, HalfOpen, Isolated).</summary>
        public const string BreakerState = "circuit_breaker.state";

        /// <summary>The gate's upstream and model.</summary>
        public const string Gate = "rate_limit.gate";

        /// <summary>
        /// Where a gate, budget or recovery decision came from: <c>shared</c> (the state replicas share, see
        /// <see cref="IUpstreamSharedState"/>) or <c>local</c> (this replica's own: none registered, or it did not answer).
        /// </summary>
        public const string StateSource = "aspireretry.state_source";

        /// <summary>The gate's state in words ("closed for 800 ms", "pacing at one request every 1000 ms").</summary>
        public const string GateState = "rate_limit.gate_state";

        /// <summary>Why an attempt waits at the gate: <c>closed</c>, <c>paced</c> or <c>probe</c>.</summary>
        public const string GateReason = "rate_limit.reason";

        /// <summary>The wait at the gate, in milliseconds.</summary>
        public const string GateWaitMs = "rate_limit.wait_ms";

        /// <summary>How long a response closed the gate for, in milliseconds.</summary>
        public const string GateClosedMs = "rate_limit.closed_ms";

        /// <summary>What closed the gate ("429 rate_limit_exceeded", "token budget at its reserve").</summary>
        public const string GateCause = "rate_limit.cause";

        /// <summary>Requests (first attempts) in the retry budget's window.</summary>
        public const string BudgetRequests = "retry_budget.requests";

        /// <summary>Retries in the retry budget's window.</summary>
        public const string BudgetRetries = "retry_budget.retries";

        /// <summary>Retries the window allows.</summary>
        public const string BudgetAllowed = "retry_budget.allowed";

        /// <summary>The upstream an event is about (the one a failover leaves).</summary>
        public const string Upstream = Attempt.Upstream;

        /// <summary>The upstream a failover goes to.</summary>
        public const string FailoverTo = "upstream.next";

        /// <summary>Why the call left the upstream ("503", "429 insufficient_quota", "upstream down (circuit breaker open)").</summary>
        public const string FailoverReason = "upstream.failover_reason";

        /// <summary>The model asked for (GenAI semantic conventions).</summary>
        public const string Model = "gen_ai.request.model";

        /// <summary>On a gate wait for tokens: the tokens the attempt waits for.</summary>
        public const string GateTokens = "rate_limit.tokens";

        /// <summary>On the estimate-error metric: <c>prompt</c> (input tokens over the prompt's estimate) or <c>total</c> (spent over the prompt and completion estimated).</summary>
        public const string TokensPart = "aspireretry.tokens.part";
    }

    /// <summary>Instruments of <see cref="MeterName"/>.</summary>
    public static class Metrics
    {
        /// <summary>Histogram (s) of the time attempts waited at the gate, by <see cref="Tags.Model"/> and <see cref="Tags.GateReason"/>.</summary>
        public const string GateWaitDuration = "aspireretry.rate_limit.gate_wait.duration";

        /// <summary>
        /// Histogram of actual over estimated tokens for answered calls, by <see cref="Tags.Model"/> and
        /// <see cref="Tags.TokensPart"/>: 1 is a perfect estimate, above 1 an underestimate.
        /// </summary>
        public const string TokenEstimateRatio = "aspireretry.tokens.estimate_ratio";
    }

    /// <summary>
    /// Events of the gate and the retry budget reported through Polly's telemetry, so they reach Polly's logs
    /// and <c>resilience.polly.strategy.events</c> (tag <c>event.name</c>) beside <c>OnRetry</c> and <c>OnCircuitOpened</c>.
    /// </summary>
    public static class PollyEvents
    {
        /// <summary>An attempt waits at the gate.</summary>
        public const string GateWait = "OnRateLimitGateWait";

        /// <summary>A response closed the gate.</summary>
        public const string GateClosed = "OnRateLimitGateClosed";

        /// <summary>The gate rejected a call whose wait is beyond its budget.</summary>
        public const string GateRejected = "OnRateLimitGateRejected";

        /// <summary>The retry budget refused a retry.</summary>
        public const string BudgetExhausted = "OnRetryBudgetExhausted";

        /// <summary>A call met the open breaker and waits for the upstream to recover.</summary>
        public const string RecoveryWait = "OnRecoveryWait";

        /// <summary>The upstream's next check is beyond the call's budget: it fails at once.</summary>
        public const string RecoveryRejected = "OnRecoveryWaitRejected";
    }

    /// <summary>Outcomes in <see cref="AttemptReport.Outcome"/> besides an HTTP status or a failure's description.</summary>
    public static class Outcomes
    {
        /// <summary>The attempt got a 2xx.</summary>
        public const string Ok = "ok";

        /// <summary>Not an attempt: the next attempt waits at the shared rate-limit gate (<see cref="AttemptReport.Delay"/> says how long).</summary>
        public const string RateLimitWait = "rate_limit_wait";

        /// <summary>The reason of a <see cref="RateLimitWait"/> report.</summary>
        public const string RateLimitWaitReason = "waiting for rate limit";

        /// <summary>Not an attempt: the upstream is down and the call waits for its next check (<see cref="AttemptReport.Delay"/>; zero while a check is under way).</summary>
        public const string RecoveryWait = "recovery_wait";

        /// <summary>The reason of a <see cref="RecoveryWait"/> report.</summary>
        public const string RecoveryWaitReason = "waiting for the upstream to recover";

        /// <summary>
        /// The outcome of a report that the call left an upstream whose gate or breaker sent nothing (down, rate limited):
        /// see <see cref="AttemptReport.FailoverTo"/>.
        /// </summary>
        public const string Failover = "failover";
    }
}
