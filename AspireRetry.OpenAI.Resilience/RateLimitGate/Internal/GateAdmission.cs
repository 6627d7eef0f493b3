using AspireRetry.OpenAI.Resilience.SharedState;
using Polly;
using Polly.Telemetry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The gate strategy's "before": waits until the gate lets an attempt go (cancellable, within the call's budget and, for
/// the whole of a wait for tokens, MaxServerDelay; or fails at once when the wait is beyond them). With an <see cref="IUpstreamSharedState"/> (replicas) the shared gate
/// decides the start of every attempt this replica's gate lets go; what it does not answer in time is decided here.
/// Each wait and refusal is reported through Polly's telemetry, as a span event and to the call's <see cref="CallProgress"/>.
/// </summary>
internal sealed class GateAdmission(
    ResilienceStrategyTelemetry polly, RateLimitGate gate, ResilienceOptions options, TimeProvider time, RateLimitTelemetry telemetry, string model,
    SharedStateLink shared, SharedStateKey key)
{
    /// <summary>
    /// How an attempt goes (<see cref="GateDecisionKind.Go"/>, as the probe or in the slow-start window), its start, its
    /// shared start, and the tokens it holds.
    /// </summary>
    public readonly record struct Admitted(GateDecisionKind Kind, TimeSpan? Start, string? Token, long Tokens = 0, bool SharedTokens = false);

    /// <summary>
    /// Waits until the gate lets the attempt go; while the gate knows the token bucket it reserves the request's
    /// estimated cost, asked of <paramref name="tokensOf"/> then (a call that waited for the probe learns only after it
    /// that tokens count).
    /// </summary>
    public async ValueTask<Admitted> PassAsync(ResilienceContext context, Func<ValueTask<long>>? tokensOf = null)
    {
        var toldPaced = false;
        TimeSpan? waitingForTokensSince = null;
        long? tokenWaitStarted = null;
        while (true)
        {
            var tokens = tokensOf is not null && gate.KnowsTokens ? await tokensOf().ConfigureAwait(false) : 0;
            var left = CallClock.Left(context, time, options);
            // With a later upstream able to take the call, a wait here is refused at once: the call fails over instead.
            // MaxServerDelay bounds the attempt's whole wait at the gate: the time it has already let others go ahead counts.
            var waitedForTokens = tokenWaitStarted is { } started ? time.GetElapsedTime(started) : TimeSpan.Zero;
            var budget = UpstreamRoute.CurrentCanFailOver ? TimeSpan.Zero : TimeSpans.Max(TimeSpan.Zero, TimeSpans.Min(left, options.MaxServerDelay - waitedForTokens));
            var decision = gate.Admit(budget, tokens, ref waitingForTokensSince);
            if (decision.Kind == GateDecisionKind.TooLarge)
            {
                throw TooLarge(decision.Tokens, context);
            }

            // The replicas' shared gate decides the start time of every attempt this replica's gate lets go (its probe and
            // slow-start window only tune one process's concurrency, so they keep their places while the shared gate holds them).
            if (decision.Kind is not (GateDecisionKind.WaitForProbe or GateDecisionKind.WaitThenAsk or GateDecisionKind.Reject) && shared.Configured)
            {
                switch (await PassSharedAsync(decision, budget, left, context).ConfigureAwait(false))
                {
                    case { Again: true }:
                        continue;
                    case { } went:
                        return new(went.Kind, decision.Start, went.Token, decision.Tokens, went.SharedTokens);
                }
            }

            switch (decision.Kind)
            {
                case GateDecisionKind.Go or GateDecisionKind.GoAsProbe or GateDecisionKind.GoInWindow:
                    return new(decision.Kind, decision.Start, null, decision.Tokens);

                case GateDecisionKind.Reject:
                    throw Reject(decision.Wait, left, context);

                case GateDecisionKind.WaitForProbe:
                {
                    var waitStarted = time.GetTimestamp();
                    await decision.Probe!.WaitAsync(context.CancellationToken).ConfigureAwait(false);
                    var waited = time.GetElapsedTime(waitStarted);
                    telemetry.Waited(model, GateWaitReason.Probe, waited);
                    SpanEvents.GateWait(gate, GateWaitReason.Probe, waited);
                    polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateWait), context, waited);
                    continue;
                }

                case GateDecisionKind.WaitThenAsk:
                {
                    var firstTokenWait = decision.Reason == GateWaitReason.Tokens && tokenWaitStarted is null;
                    if (firstTokenWait)
                    {
                        tokenWaitStarted = time.GetTimestamp();
                    }

                    // The slow start's spacing is not the caller's business; pacing on estimated limits, and a wait for
                    // tokens that other calls may still overtake, are: each told once.
                    await SleepAsync(decision, context, tellCaller: decision.Reason switch
                    {
                        GateWaitReason.Paced => !toldPaced,
                        GateWaitReason.Tokens => firstTokenWait,
                        _ => false,
                    }).ConfigureAwait(false);
                    toldPaced |= decision.Reason == GateWaitReason.Paced;
                    continue;
                }

                default:
                {
                    try
                    {
                        await SleepAsync(decision, context, tellCaller: true).ConfigureAwait(false);
                    }
                    catch
                    {
                        gate.AttemptEnded(decision.Start);
                        throw;
                    }

                    // Closed again while we waited (another call met a 429): the start time no longer holds.
                    if (gate.Generation != decision.Generation)
                    {
                        gate.AttemptEnded(decision.Start);
                        continue;
                    }

                    return new(GateDecisionKind.Go, decision.Start, null, decision.Tokens);
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
    private async ValueTask<(bool Again, GateDecisionKind Kind, string? Token, bool SharedTokens)?> PassSharedAsync(GateDecision decision, TimeSpan budget, TimeSpan left, ResilienceContext context)
    {
        var (answered, reservation) = await shared.TryAsync((store, ct) => store.ReserveAsync(key, budget, decision.Tokens, ct), CancellationToken.None).ConfigureAwait(false);
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
            // The tokens too, when the shared gate took none (a store without a token bucket, or it knows none yet).
            var localWait = decision.Kind == GateDecisionKind.Wait && (!gate.KnowsLimits || (decision.Reason == GateWaitReason.Tokens && !reservation.TokensReserved))
                ? decision.Wait
                : TimeSpan.Zero;
            var sharedDecides = reservation.Wait >= localWait;
            var wait = sharedDecides ? reservation.Wait : localWait;
            if (wait > TimeSpan.Zero)
            {
                var reason = !sharedDecides ? decision.Reason
                    : reservation.Closed ? GateWaitReason.Closed
                    : reservation.ForTokens ? GateWaitReason.Tokens
                    : GateWaitReason.Paced;
                await SleepAsync(new GateDecision(GateDecisionKind.Wait, wait, reason, 0, null, null, decision.Tokens), context, tellCaller: true, fromShared: sharedDecides).ConfigureAwait(false);

                // Closed again while we waited (a 429 here or at another replica): the start time no longer holds.
                current = (localWait == TimeSpan.Zero || gate.Generation == decision.Generation)
                    && (reservation.Wait == TimeSpan.Zero || await SharedStartHoldsAsync(reservation.Generation).ConfigureAwait(false));
            }
        }
        catch
        {
            await AbandonAsync(kind, decision.Start, reservation.Token, SharedTokensOf(reservation, decision)).ConfigureAwait(false);
            throw;
        }

        if (!current)
        {
            await AbandonAsync(kind, decision.Start, reservation.Token, SharedTokensOf(reservation, decision)).ConfigureAwait(false);
        }

        return (!current, kind, reservation.Token, reservation.TokensReserved);
    }

    /// <summary>Whether no closing voided a shared start since it was reserved; true when the shared state does not answer.</summary>
    private async ValueTask<bool> SharedStartHoldsAsync(long generation)
    {
        var (answered, holds) = await shared.TryAsync((store, ct) => store.IsCurrentAsync(key, generation, ct), CancellationToken.None).ConfigureAwait(false);
        return !answered || holds;
    }

    private static long SharedTokensOf(SharedGateReservation reservation, GateDecision decision) => reservation.TokensReserved ? decision.Tokens : 0;

    /// <summary>An attempt that does not go after all gives back what it held: its probe or window place, its start (and tokens), its shared start (and tokens).</summary>
    private async ValueTask AbandonAsync(GateDecisionKind kind, TimeSpan? start, string? token, long sharedTokens)
    {
        gate.AttemptEnded(start);
        if (kind == GateDecisionKind.GoAsProbe)
        {
            gate.ProbeEnded();
        }
        else if (kind == GateDecisionKind.GoInWindow)
        {
            gate.WindowAttemptEnded(succeeded: false);
        }

        await GiveBackAsync(token, sharedTokens).ConfigureAwait(false);
    }

    /// <summary>
    /// The shared gate's start of an attempt that ended without a response (or did not go): no longer in flight, and the
    /// <paramref name="tokens"/> it took from the shared bucket come back.
    /// </summary>
    public async ValueTask GiveBackAsync(string? token, long tokens = 0)
    {
        if (token is not null)
        {
            var ended = new SharedRateLimitObservation(null, null, null, 0, null, TimeSpan.Zero, token) { TokensUnspent = tokens };
            await shared.TryAsync((store, ct) => store.ObserveAsync(key, ended, ct), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sleeps the gate's wait, reported as a span event, in Polly's telemetry and in the wait histogram; the caller's
    /// <see cref="CallProgress"/> hears of every wait but the slow start's spacing between the attempts of its window.
    /// </summary>
    private async Task SleepAsync(GateDecision decision, ResilienceContext context, bool tellCaller, bool fromShared = false)
    {
        SpanEvents.GateWait(gate, decision.Reason, decision.Wait, fromShared, decision.Tokens);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Information, PollyEvents.GateWait), context, decision.Wait);
        if (tellCaller)
        {
            CallProgress.Current?.RateLimitWait(decision.Wait);
        }

        var waitStarted = time.GetTimestamp();
        await Task.Delay(decision.Wait, time, context.CancellationToken).ConfigureAwait(false);
        telemetry.Waited(model, decision.Reason, time.GetElapsedTime(waitStarted));
    }

    private RequestTooLargeException TooLarge(long tokens, ResilienceContext context)
    {
        var limit = gate.TokenLimit;
        var message = $"The request needs about {tokens} tokens (prompt and completion), more than {model}'s whole token limit of {limit} a minute holds: " +
            "no wait would let it through. Shorten the prompt or its max_tokens, or split the batch. No request was sent.";
        SpanEvents.GateRejected(gate, TimeSpan.Zero, TimeSpan.Zero);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.GateRejected), context, tokens);
        return new RequestTooLargeException(tokens, limit, message);
    }

    private RateLimitGateRejectedException Reject(TimeSpan wait, TimeSpan left, ResilienceContext context, bool fromShared = false)
    {
        var limit = left < options.MaxServerDelay
            ? CallClock.MoreThanLeft(left)
            : $"longer than {ResilienceOptions.SectionName}:MaxServerDelay ({TimeSpans.Seconds(options.MaxServerDelay)})";
        var message = $"The upstream's rate limit for {model} is reached: waiting for it to reset would take {TimeSpans.Seconds(wait)}, {limit}. No request was sent.";
        SpanEvents.GateRejected(gate, wait, left, fromShared);
        polly.Report(new ResilienceEvent(ResilienceEventSeverity.Warning, PollyEvents.GateRejected), context, wait);

        // The caller learns why, and the wait, from the exception itself.
        return new RateLimitGateRejectedException(wait, message);
    }
}
