using System.Globalization;
using System.Net;
using Polly;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>Options of the gate strategy: only its name, for Polly's telemetry.</summary>
internal sealed class RateLimitGateStrategyOptions : ResilienceStrategyOptions
{
    public RateLimitGateStrategyOptions() => Name = Strategies.RateLimitGate;
}

/// <summary>
/// The shared rate-limit gate as a Polly strategy, inside the retry and the breaker and outside the
/// attempt timeout (waiting at the gate is not the upstream being slow). Once per attempt it waits
/// for the gate (cancellable, within the call's budget, or fails at once when the wait is beyond it),
/// lets the attempt through, and teaches the gate from the response. It never retries anything. It also
/// answers the retry strategy's "may this retry spend the shared budget". Each decision is reported
/// through Polly's telemetry (so it reaches <c>resilience.polly.strategy.events</c> and Polly's logs),
/// as a span event, and to the call's <see cref="CallProgress"/>.
/// </summary>
/// With an <see cref="IUpstreamSharedState"/> (replicas), the shared state decides the start time and the budget, and
/// learns from every response; what it does not answer in time is decided on this replica's own gate and budget.
internal sealed class RateLimitGateStrategy(
    ResilienceStrategyTelemetry polly, UpstreamLimits limits, ResilienceOptions options, TimeProvider time, RateLimitTelemetry telemetry, string model,
    SharedStateLink? sharedState = null, SharedStateKey key = default)
    : ResilienceStrategy<HttpResponseMessage>
{
    private readonly SharedStateLink shared = sharedState ?? SharedStateLink.None;

    private static readonly ResiliencePropertyKey<int> GateAttemptsKey = new("aspireretry.gate.attempts");

    private RateLimitGate Gate => limits.Gate;

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        GateDecisionKind admitted;
        TimeSpan? start;
        string? token;
        try
        {
            (admitted, start, token) = await PassAsync(context).ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception ex) when (ex is RateLimitGateRejectedException or OperationCanceledException)
        {
            return Outcome.FromException<HttpResponseMessage>(ex);
        }

        var attempts = context.Properties.GetValue(GateAttemptsKey, 0) + 1;
        context.Properties.Set(GateAttemptsKey, attempts);
        if (attempts == 1)
        {
            limits.Budget.RecordRequest();
            if (shared.Configured)
            {
                // Not cancellable: the attempt holds its start (and maybe the probe) until the try below gives it back.
                await shared.TryAsync((store, ct) => store.RecordRequestAsync(key, options.RateLimit.RetryBudget, ct), CancellationToken.None)
                    .ConfigureAwait(context.ContinueOnCapturedContext);
            }
        }

        var sent = time.GetTimestamp();
        var learned = false;
        var observed = false;
        var succeeded = false;
        try
        {
            var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
            if (outcome.Result is { } response)
            {
                succeeded = response.IsSuccessStatusCode;
                learned = await LearnAsync(response, time.GetElapsedTime(sent), context, start, token).ConfigureAwait(context.ContinueOnCapturedContext);
                observed = true;
            }

            return outcome;
        }
        finally
        {
            if (!observed)
            {
                Gate.AttemptEnded(start);
                await GiveBackAsync(token).ConfigureAwait(false);
            }

            if (admitted == GateDecisionKind.GoAsProbe && !learned)
            {
                Gate.ProbeEnded();
            }
            else if (admitted == GateDecisionKind.GoInWindow)
            {
                Gate.WindowAttemptEnded(succeeded, time.GetElapsedTime(sent));
            }
        }
    }

    /// <summary>
    /// Takes one retry from the shared budget: null when taken; when it is spent, says so on the span and in
    /// Polly's telemetry and returns why, for the retry strategy to tell the call.
    /// </summary>
    public async ValueTask<string?> TrySpendRetryBudgetAsync(ResilienceContext context, string breakerState)
    {
        var (fromShared, decision) = await shared.TryAsync((store, ct) => store.TryRetryAsync(key, options.RateLimit.RetryBudget, ct), context.CancellationToken)
            .ConfigureAwait(false);
        if (fromShared ? decision.Allowed : limits.Budget.TryRetry())
        {
            return null;
        }

        var snapshot = fromShared ? (decision.Requests, decision.Retries, decision.Limit) : limits.Budget.Snapshot();
        var budget = options.RateLimit.RetryBudget;
        var gateState = Gate.Describe();
        RateLimitTelemetry.BudgetExhaustedEvent(Gate, snapshot, breakerState, gateState, fromShared);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.BudgetExhausted), context, snapshot);
        return $"Not retried: the retry budget{(fromShared ? " the replicas share" : "")} is spent ({snapshot.Item2} retries for {snapshot.Item1} calls in the last {OpenAIResilience.Seconds(budget.Window)}; " +
            $"{RateLimitOptions.SectionName}:RetryBudget allows {budget.Ratio.ToString("0.##", CultureInfo.InvariantCulture)} per call " +
            $"plus {budget.MinRetriesPerSecond.ToString("0.##", CultureInfo.InvariantCulture)} a second). Circuit breaker: {breakerState}; rate-limit gate: {gateState}.";
    }

    /// <summary>Waits until the gate lets this attempt go; says how it goes (<see cref="GateDecisionKind.Go"/>, as the probe or in the slow-start window).</summary>
    private async ValueTask<(GateDecisionKind Kind, TimeSpan? Start, string? Token)> PassAsync(ResilienceContext context)
    {
        var cancellationToken = context.CancellationToken;
        while (true)
        {
            var left = options.TotalTimeout - CallClock.Elapsed(context, time);
            // With a later upstream able to take the call, a wait here is refused at once: the call fails over instead.
            var budget = UpstreamRoute.CurrentCanFailOver ? TimeSpan.Zero : left < options.MaxServerDelay ? left : options.MaxServerDelay;
            var decision = Gate.Reserve(budget);

            // The replicas' shared gate decides the start time of every attempt this replica's gate lets go (its probe and
            // slow-start window only tune one process's concurrency, so they keep their places while the shared gate holds them).
            if (decision.Kind is not (GateDecisionKind.WaitForProbe or GateDecisionKind.WaitThenAsk or GateDecisionKind.Reject) && shared.Configured)
            {
                switch (await PassSharedAsync(decision, budget, left, context).ConfigureAwait(false))
                {
                    case { Again: true }:
                        continue;
                    case { } went:
                        return (went.Kind, decision.Start, went.Token);
                }
            }

            switch (decision.Kind)
            {
                case GateDecisionKind.Go or GateDecisionKind.GoAsProbe or GateDecisionKind.GoInWindow:
                    return (decision.Kind, decision.Start, null);

                case GateDecisionKind.Reject:
                    throw Reject(decision.Wait, left, context);

                case GateDecisionKind.WaitForProbe:
                {
                    var waitStarted = time.GetTimestamp();
                    await decision.Probe!.WaitAsync(cancellationToken).ConfigureAwait(false);
                    var waited = time.GetElapsedTime(waitStarted);
                    telemetry.Waited(model, GateWaitReason.Probe, waited);
                    RateLimitTelemetry.WaitEvent(Gate, GateWaitReason.Probe, waited);
                    polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateWait), context, waited);
                    continue;
                }

                case GateDecisionKind.WaitThenAsk:
                    await SleepAsync(decision, context, tellCaller: false).ConfigureAwait(false);
                    continue;

                default:
                {
                    try
                    {
                        await SleepAsync(decision, context, tellCaller: true).ConfigureAwait(false);
                    }
                    catch
                    {
                        Gate.AttemptEnded(decision.Start);
                        throw;
                    }

                    // Closed again while we waited (another call met a 429): the start time no longer holds.
                    if (Gate.Generation != decision.Generation)
                    {
                        Gate.AttemptEnded(decision.Start);
                        continue;
                    }

                    return (GateDecisionKind.Go, decision.Start, null);
                }
            }
        }
    }

    /// <summary>
    /// The shared gate's decision on an attempt this replica's gate let go (<paramref name="decision"/>): null when the
    /// shared state did not answer or knows nothing yet (this replica's gate decides), else go (after its wait) or ask
    /// again (a closing voided the start). Its calls to the store are not cancellable (the link's deadline bounds them):
    /// the attempt holds a start, maybe the probe, which only this method or the attempt gives back.
    /// </summary>
    private async ValueTask<(bool Again, GateDecisionKind Kind, string? Token)?> PassSharedAsync(GateDecision decision, TimeSpan budget, TimeSpan left, ResilienceContext context)
    {
        var (answered, reservation) = await shared.TryAsync((store, ct) => store.ReserveAsync(key, budget, ct), CancellationToken.None).ConfigureAwait(false);
        if (!answered || !reservation.Known)
        {
            return null;
        }

        var kind = decision.Kind == GateDecisionKind.Wait ? GateDecisionKind.Go : decision.Kind;
        var current = true;
        try
        {
            if (reservation.Rejected)
            {
                throw Reject(reservation.Wait, left, context, fromShared: true);
            }

            // With published limits the shared gate's wait (every replica's requests); without them, the longer of it and
            // this replica's own (its spacing after a 429, which the shared gate does not keep).
            var localWait = decision.Kind == GateDecisionKind.Wait && !Gate.KnowsLimits ? decision.Wait : TimeSpan.Zero;
            var sharedDecides = reservation.Wait >= localWait;
            var wait = sharedDecides ? reservation.Wait : localWait;
            if (wait > TimeSpan.Zero)
            {
                var reason = !sharedDecides ? decision.Reason : reservation.Closed ? GateWaitReason.Closed : GateWaitReason.Paced;
                await SleepAsync(new GateDecision(GateDecisionKind.Wait, wait, reason, 0, null), context, tellCaller: true, fromShared: sharedDecides).ConfigureAwait(false);

                // Closed again while we waited (a 429 here or at another replica): the start time no longer holds.
                current = (localWait == TimeSpan.Zero || Gate.Generation == decision.Generation)
                    && (reservation.Wait == TimeSpan.Zero || await SharedStartHoldsAsync(reservation.Generation).ConfigureAwait(false));
            }
        }
        catch
        {
            await AbandonAsync(kind, decision.Start, reservation.Token).ConfigureAwait(false);
            throw;
        }

        if (!current)
        {
            await AbandonAsync(kind, decision.Start, reservation.Token).ConfigureAwait(false);
        }

        return (!current, kind, reservation.Token);
    }

    /// <summary>Whether no closing voided a shared start since it was reserved; true when the shared state does not answer.</summary>
    private async ValueTask<bool> SharedStartHoldsAsync(long generation)
    {
        var (answered, holds) = await shared.TryAsync((store, ct) => store.IsCurrentAsync(key, generation, ct), CancellationToken.None).ConfigureAwait(false);
        return !answered || holds;
    }

    /// <summary>An attempt that does not go after all gives back what it held: its probe or window place, its start, its shared start.</summary>
    private async ValueTask AbandonAsync(GateDecisionKind kind, TimeSpan? start, string? token)
    {
        Release(kind, start);
        await GiveBackAsync(token).ConfigureAwait(false);
    }

    /// <summary>The shared gate's start of an attempt that ended without a response (or did not go): no longer in flight.</summary>
    private async ValueTask GiveBackAsync(string? token)
    {
        if (token is not null)
        {
            var ended = new SharedRateLimitObservation(null, null, null, 0, null, TimeSpan.Zero, token);
            await shared.TryAsync((store, ct) => store.ObserveAsync(key, ended, ct), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Gives back the probe's or the slow-start window's place, and the start, of an attempt that does not go after all.</summary>
    private void Release(GateDecisionKind kind, TimeSpan? start)
    {
        Gate.AttemptEnded(start);
        if (kind == GateDecisionKind.GoAsProbe)
        {
            Gate.ProbeEnded();
        }
        else if (kind == GateDecisionKind.GoInWindow)
        {
            Gate.WindowAttemptEnded(succeeded: false);
        }
    }

    /// <summary>
    /// Sleeps the gate's wait, reported as a span event, in Polly's telemetry and in the wait histogram; the caller's
    /// <see cref="CallProgress"/> hears of every wait but the slow start's spacing between the attempts of its window.
    /// </summary>
    private async Task SleepAsync(GateDecision decision, ResilienceContext context, bool tellCaller, bool fromShared = false)
    {
        RateLimitTelemetry.WaitEvent(Gate, decision.Reason, decision.Wait, fromShared);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateWait), context, decision.Wait);
        if (tellCaller)
        {
            CallProgress.Current?.RateLimitWait(decision.Wait);
        }

        var waitStarted = time.GetTimestamp();
        await Task.Delay(decision.Wait, time, context.CancellationToken).ConfigureAwait(false);
        telemetry.Waited(model, decision.Reason, time.GetElapsedTime(waitStarted));
    }

    private RateLimitGateRejectedException Reject(TimeSpan wait, TimeSpan left, ResilienceContext context, bool fromShared = false)
    {
        var limit = left < options.MaxServerDelay
            ? $"more than the {OpenAIResilience.Seconds(left)} left of {ResilienceOptions.SectionName}:TotalTimeout"
            : $"longer than {ResilienceOptions.SectionName}:MaxServerDelay ({OpenAIResilience.Seconds(options.MaxServerDelay)})";
        var message = $"The upstream's rate limit for {model} is reached: waiting for it to reset would take {OpenAIResilience.Seconds(wait)}, {limit}. No request was sent.";
        RateLimitTelemetry.RejectedEvent(Gate, wait, left, fromShared);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.GateRejected), context, wait);

        // The caller learns why, and the wait, from the exception itself.
        return new RateLimitGateRejectedException(wait, message);
    }

    /// <summary>Feeds the response's rate-limit headers and, for a 429 <c>rate_limit_exceeded</c>, its server wait to the gate.</summary>
    private async ValueTask<bool> LearnAsync(HttpResponseMessage response, TimeSpan age, ResilienceContext context, TimeSpan? start, string? token)
    {
        TimeSpan? serverWait = null;
        if (response.StatusCode == HttpStatusCode.TooManyRequests
            && UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is { } wait)
        {
            try
            {
                // Exhausted quota is not a rate limit: waiting will not refill it, so it closes nothing.
                if (await UpstreamOutcome.ErrorCodeAsync(response, context.CancellationToken).ConfigureAwait(false) != UpstreamOutcome.InsufficientQuota)
                {
                    serverWait = wait;
                }
            }
            catch (OperationCanceledException)
            {
                // The caller is gone; the retry strategy will not use this response either.
            }
        }

        var headers = RateLimitHeaders.Read(response);

        // The shared state first: this replica's gate wakes the calls waiting for its probe, and they ask the shared gate,
        // which must know the limits by then (else they decide alone, on the replica's own gate).
        TimeSpan? sharedClosedFor = null;
        var fromShared = false;
        if (shared.Configured)
        {
            var closeFor = serverWait is { } w ? w + OpenAIResilience.ServerDelayMargin : Gate.TokenWait(headers);
            var observation = new SharedRateLimitObservation(
                headers.Requests?.Limit, headers.Requests?.Remaining, headers.Requests?.RatePerMs,
                headers.Requests is { } requests ? Gate.ReserveOf(requests.Limit) : 0, closeFor, age, token);
            (fromShared, sharedClosedFor) = await shared.TryAsync((store, ct) => store.ObserveAsync(key, observation, ct), CancellationToken.None)
                .ConfigureAwait(false);
        }

        var closedFor = Gate.Observe(headers, serverWait, age, start);
        if (fromShared)
        {
            // One replica reports a closing the others then only wait for.
            closedFor = sharedClosedFor;
        }

        if (closedFor is { } closed)
        {
            RateLimitTelemetry.ClosedEvent(Gate, closed, serverWait is not null ? "429 rate_limit_exceeded" : "token budget at its reserve", fromShared);
            polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateClosed), context, closed);
        }

        return headers.Requests is not null || serverWait is not null;
    }
}
