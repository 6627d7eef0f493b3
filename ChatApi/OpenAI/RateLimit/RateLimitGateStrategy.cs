using System.Diagnostics;
using System.Globalization;
using System.Net;
using Polly;

namespace AspireRetry.ChatApi.OpenAI.RateLimit;

/// <summary>Options of the gate strategy: only its name, for Polly's telemetry.</summary>
public sealed class RateLimitGateStrategyOptions : ResilienceStrategyOptions
{
    public RateLimitGateStrategyOptions() => Name = "rate-limit-gate";
}

/// <summary>
/// The shared rate-limit gate as a Polly strategy, inside the retry and the breaker and outside the
/// attempt timeout (waiting at the gate is not the upstream being slow). Once per attempt it waits
/// for the gate (cancellable, within the call's budget, or fails at once when the wait is beyond it),
/// lets the attempt through, and teaches the gate from the response. It never retries anything.
/// </summary>
internal sealed class RateLimitGateStrategy(UpstreamLimits limits, ResilienceOptions options, TimeProvider time, RateLimitTelemetry telemetry, string model)
    : ResilienceStrategy<HttpResponseMessage>
{
    private static readonly ResiliencePropertyKey<int> GateAttemptsKey = new("aspireretry.gate.attempts");

    private RateLimitGate Gate => limits.Gate;

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        if (!context.Properties.TryGetValue(AttemptHandler.StartedKey, out var started))
        {
            // The call's budget starts at its first gate, so time spent waiting here counts against it.
            started = time.GetTimestamp();
            context.Properties.Set(AttemptHandler.StartedKey, started);
        }

        bool isProbe;
        try
        {
            isProbe = await PassAsync(context, started).ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception ex) when (ex is RateLimitRejectedException or OperationCanceledException)
        {
            return Outcome.FromException<HttpResponseMessage>(ex);
        }

        var attempts = context.Properties.GetValue(GateAttemptsKey, 0) + 1;
        context.Properties.Set(GateAttemptsKey, attempts);
        if (attempts == 1)
        {
            limits.Budget.RecordRequest();
        }

        var sent = time.GetTimestamp();
        var learned = false;
        try
        {
            var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
            if (outcome.Result is { } response)
            {
                learned = await LearnAsync(response, time.GetElapsedTime(sent), context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
            }

            return outcome;
        }
        finally
        {
            if (isProbe && !learned)
            {
                Gate.ProbeEnded();
            }
        }
    }

    /// <summary>Waits until the gate lets this attempt go; true when it goes as the probe.</summary>
    private async ValueTask<bool> PassAsync(ResilienceContext context, long started)
    {
        var cancellationToken = context.CancellationToken;
        while (true)
        {
            var left = options.TotalTimeout - time.GetElapsedTime(started);
            var budget = left < options.MaxServerDelay ? left : options.MaxServerDelay;
            var decision = Gate.Reserve(budget);
            switch (decision.Kind)
            {
                case GateDecisionKind.Go:
                    return false;

                case GateDecisionKind.GoAsProbe:
                    return true;

                case GateDecisionKind.Reject:
                    throw Reject(decision.Wait, left);

                case GateDecisionKind.WaitForProbe:
                {
                    var waitStarted = time.GetTimestamp();
                    await decision.Probe!.WaitAsync(cancellationToken).ConfigureAwait(false);
                    var waited = time.GetElapsedTime(waitStarted);
                    telemetry.Waited(model, GateWaitReason.Probe, waited);
                    RateLimitTelemetry.WaitEvent(Gate, GateWaitReason.Probe, waited);
                    continue;
                }

                default:
                {
                    RateLimitTelemetry.WaitEvent(Gate, decision.Reason, decision.Wait);
                    CallProgress.Current?.RateLimitWait(decision.Wait);
                    var waitStarted = time.GetTimestamp();
                    await Task.Delay(decision.Wait, time, cancellationToken).ConfigureAwait(false);
                    telemetry.Waited(model, decision.Reason, time.GetElapsedTime(waitStarted));

                    // Closed again while we waited (another call met a 429): the start time no longer holds.
                    if (Gate.Generation != decision.Generation)
                    {
                        continue;
                    }

                    return false;
                }
            }
        }
    }

    private RateLimitRejectedException Reject(TimeSpan wait, TimeSpan left)
    {
        var limit = left < options.MaxServerDelay
            ? $"more than the {Seconds(left)} left of {ResilienceOptions.SectionName}:TotalTimeout"
            : $"longer than {ResilienceOptions.SectionName}:MaxServerDelay ({Seconds(options.MaxServerDelay)})";
        var message = $"The upstream's rate limit for {model} is reached: waiting for it to reset would take {Seconds(wait)}, {limit}. No request was sent.";
        Activity.Current?.AddEvent(new ActivityEvent(RateLimitTelemetry.GateRejectedEvent, tags: new ActivityTagsCollection
        {
            [RateLimitTelemetry.WaitMs] = (long)Math.Ceiling(wait.TotalMilliseconds),
            ["retry.budget_left_ms"] = (long)Math.Max(0, left.TotalMilliseconds),
            [RateLimitTelemetry.Gate] = Gate.Name,
        }));
        if (CallProgress.Current is { } call)
        {
            call.StopReason = message;
            call.StopRetryAfter = wait;
        }

        return new RateLimitRejectedException(wait, message);
    }

    /// <summary>Feeds the response's rate-limit headers and, for a 429 <c>rate_limit_exceeded</c>, its server wait to the gate.</summary>
    private async ValueTask<bool> LearnAsync(HttpResponseMessage response, TimeSpan age, CancellationToken cancellationToken)
    {
        TimeSpan? serverWait = null;
        if (response.StatusCode == HttpStatusCode.TooManyRequests
            && UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is { } wait)
        {
            try
            {
                // Exhausted quota is not a rate limit: waiting will not refill it, so it closes nothing.
                if (await UpstreamOutcome.ErrorCodeAsync(response, cancellationToken).ConfigureAwait(false) != UpstreamOutcome.InsufficientQuota)
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
        var closedFor = Gate.Observe(headers, serverWait, age);
        if (closedFor is { } closed)
        {
            RateLimitTelemetry.ClosedEvent(Gate, closed, serverWait is not null ? "429 rate_limit_exceeded" : "token budget at its reserve");
        }

        return headers.Requests is not null || serverWait is not null;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
