using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The one retry layer: the resilience pipeline of the "openai" HttpClient, built on
/// Microsoft.Extensions.Http.Resilience. Outer to inner: total timeout, retry, the wait for recovery, circuit breaker, the
/// shared rate-limit gate (when <c>RateLimit:Enabled</c>), attempt timeout, then
/// <see cref="AttemptHandler"/> once per attempt.
/// </summary>
public static class OpenAIResilience
{
    /// <summary>
    /// Added to every server-dictated wait: timers may fire a millisecond early and clocks round, and
    /// arriving 10 ms late costs nothing where arriving 1 ms early costs another 429.
    /// </summary>
    public static readonly TimeSpan ServerDelayMargin = TimeSpan.FromMilliseconds(10);

    /// <summary>The shortest break Polly's circuit breaker accepts.</summary>
    private static readonly TimeSpan PollyMinimumBreak = TimeSpan.FromMilliseconds(500);

    /// <summary>Adds the pipeline and the attempt handler to an HttpClient; <see cref="ResilientOpenAIExtensions.AddResilientOpenAI"/> calls it.</summary>
    internal static IHttpClientBuilder AddOpenAIResilience(this IHttpClientBuilder builder)
    {
        // What the rate-limit gate needs, so the policy works wherever it is added.
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<UpstreamLimitsRegistry>();
        builder.Services.TryAddSingleton(services => new SharedStateLink(
            services.GetService<IUpstreamSharedState>(),
            services.GetRequiredService<IOptions<ResilienceOptions>>().Value.SharedState,
            services.GetService<TimeProvider>() ?? TimeProvider.System,
            services.GetService<ILogger<SharedStateLink>>()));
        builder.Services.TryAddSingleton<RateLimitTelemetry>();

        builder.AddResilienceHandler(PipelineName, static (pipeline, context) =>
        {
            var services = context.ServiceProvider;
            var options = services.GetRequiredService<IOptions<ResilienceOptions>>().Value;
            var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
            var (upstreamName, model) = SplitPipelineKey(context.InstanceName);
            var upstreams = services.GetService<OpenAIUpstreams>();
            var upstream = upstreams?.Find(upstreamName) ?? upstreams?.All[0];

            // Shared by every call to this upstream and model (the registry outlives pipeline rebuilds); each upstream its own.
            var gateName = upstream?.Connection.Endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') ?? context.BuilderName;
            var shared = services.GetRequiredService<UpstreamLimitsRegistry>().For(upstream?.Name ?? upstreamName, gateName, model, options);
            var limits = options.RateLimit.Enabled ? shared.Limits : null;
            var breaker = new CircuitBreakerStateProvider();
            var recovery = shared.Recovery;

            // The gate strategy is built by Polly (so it gets its telemetry) when the pipeline is built, before
            // any call: the retry's budget check asks it then.
            RateLimitGateStrategy? gate = null;
            Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = limits is null
                ? null
                : ctx => gate!.TrySpendRetryBudgetAsync(ctx, breaker.CircuitState.ToString());
            var link = services.GetRequiredService<SharedStateLink>();
            var key = new SharedStateKey(upstream?.Name ?? upstreamName, gateName, model);

            pipeline
                .AddTimeout(new HttpTimeoutStrategyOptions
                {
                    Name = Strategies.TotalTimeout,
                    // The one place a call's clock starts: where its budget starts being timed.
                    TimeoutGenerator = args =>
                    {
                        CallClock.Start(args.Context, time);
                        return ValueTask.FromResult(options.TotalTimeout);
                    },
                })
                .AddRetry(RetryOptions(options, time, trySpendRetry))
                // Outside the breaker: a call that meets it open waits there for the upstream to recover.
                .AddStrategy(strategy => new RecoveryGateStrategy(strategy.Telemetry, recovery, options, time, model, upstream?.Name, link, key), new RecoveryGateStrategyOptions())
                .AddCircuitBreaker(BreakerOptions(options, breaker, recovery));
            if (limits is not null)
            {
                // Inside the breaker (an open breaker fails fast without queueing at the gate) and outside
                // the attempt timeout (a wait at the gate is not the upstream being slow).
                var telemetry = services.GetRequiredService<RateLimitTelemetry>();
                pipeline.AddStrategy(
                    strategy => gate = new RateLimitGateStrategy(strategy.Telemetry, limits, options, time, telemetry, model, link, key),
                    new RateLimitGateStrategyOptions());
            }

            pipeline.AddTimeout(AttemptTimeoutOptions(options, time));
        })
        // One pipeline, so one breaker, per upstream and model: an overloaded gpt-4o must not block gpt-4o-mini,
        // which is what the fallback model is for, and a down primary must not block the secondary.
        .SelectPipelineBy(_ => _ => PipelineKey(CallProgress.Current));

        return builder.AddHttpMessageHandler(services =>
            new AttemptHandler());
    }

    /// <summary>The pipeline instance of a call: <c>{upstream}/{model}</c> (a model name may itself contain '/'; an upstream's name does not).</summary>
    internal static string PipelineKey(CallProgress? call) => $"{call?.Upstream}/{call?.Model}";

    internal static (string Upstream, string Model) SplitPipelineKey(string key) =>
        key.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? (key[..slash], key[(slash + 1)..]) : ("", key);

    /// <summary>The attempt timeout; it also starts the <see cref="AttemptClock"/> that tells the retry how fast a failure came back.</summary>
    internal static HttpTimeoutStrategyOptions AttemptTimeoutOptions(ResilienceOptions options, TimeProvider time) => new()
    {
        Name = Strategies.AttemptTimeout,
        TimeoutGenerator = args =>
        {
            AttemptClock.Start(args.Context, time);
            return ValueTask.FromResult(options.AttemptTimeout);
        },
    };

    internal static HttpRetryStrategyOptions RetryOptions(
        ResilienceOptions options, TimeProvider time, Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = null) => new()
    {
        MaxRetryAttempts = options.MaxRetryAttempts,
        BackoffType = DelayBackoffType.Exponential,
        Delay = options.BaseDelay,
        MaxDelay = options.MaxDelay,
        UseJitter = options.UseJitter,

        // The built-in Retry-After handling is replaced by DelayGenerator below, which also reads retry-after-ms.
        ShouldRetryAfterHeader = false,
        ShouldHandle = args => ShouldRetryAsync(args.Outcome, args.Context, options, time, trySpendRetry, args.AttemptNumber),
        DelayGenerator = args => ValueTask.FromResult(RetryDelays.Next(args.Outcome, args.Context, args.AttemptNumber, options, time)),
        OnRetry = async args =>
        {
            // Only a 429's code changes the reason; ShouldRetryAsync has buffered its body already.
            var code = args.Outcome.Result is { StatusCode: HttpStatusCode.TooManyRequests } limited
                ? await UpstreamOutcome.ErrorCodeAsync(limited, args.Context.CancellationToken).ConfigureAwait(false)
                : null;
            var reason = UpstreamOutcome.Describe(args.Outcome, code);
            AttemptHandler.RetryScheduled(args.Context, reason, args.RetryDelay);
            CallProgress.Current?.RetryScheduled(reason, args.RetryDelay);
            Activity.Current?.AddEvent(new ActivityEvent(Events.Retry, tags: new ActivityTagsCollection
            {
                [Tags.RetryAttempt] = args.AttemptNumber + 1,
                [Tags.RetryReason] = reason,
                [Tags.RetryDelayMs] = (long)args.RetryDelay.TotalMilliseconds,
            }));
        },
    };

    /// <summary>
    /// The breaker tells <paramref name="recovery"/> when the failure ratio says the upstream is down; the recovery
    /// gate holds the calls, times the checks (short first, growing to <c>BreakDuration</c>) and releases them.
    /// </summary>
    internal static HttpCircuitBreakerStrategyOptions BreakerOptions(ResilienceOptions options, CircuitBreakerStateProvider breaker, RecoveryGate recovery) => new()
    {
        StateProvider = breaker,
        ManualControl = recovery.Breaker,
        FailureRatio = options.CircuitBreaker.FailureRatio,
        MinimumThroughput = options.CircuitBreaker.MinimumThroughput,
        SamplingDuration = options.CircuitBreaker.SamplingDuration,

        // The recovery gate times the checks and lets nothing else through meanwhile: the breaker's own break need
        // only be over by the first check. BreakDuration bounds a check that hangs; Polly wants at least 500 ms.
        BreakDuration = options.CircuitBreaker.BreakDuration > PollyMinimumBreak ? options.CircuitBreaker.BreakDuration : PollyMinimumBreak,
        BreakDurationGenerator = _ => ValueTask.FromResult(RecoveryGateStrategy.BreakerPause),

        // "Down" is 5xx, timeouts and broken connections. A 429 means the upstream is up and busy: the
        // retry strategy waits it out, and opening the breaker for it would turn a pause into an outage.
        ShouldHandle = args => ValueTask.FromResult(RecoveryGateStrategy.CountsAsDown(args.Outcome)),
        OnOpened = _ =>
        {
            recovery.BreakerOpened();
            Activity.Current?.AddEvent(new ActivityEvent(Events.CircuitOpened));
            return ValueTask.CompletedTask;
        },
        OnClosed = _ =>
        {
            Activity.Current?.AddEvent(new ActivityEvent(Events.CircuitClosed));
            return ValueTask.CompletedTask;
        },
        OnHalfOpened = _ =>
        {
            Activity.Current?.AddEvent(new ActivityEvent(Events.CircuitHalfOpened));
            return ValueTask.CompletedTask;
        },
    };

    /// <summary>
    /// Retry what is transient, except a 429 for exhausted quota (waiting will not refill it) and a
    /// server wait we cannot honour: beyond <see cref="ResilienceOptions.MaxServerDelay"/> or past what
    /// is left of the total budget, the response goes back at once with the server's wait on it.
    /// With the rate-limit features on, a retry must also fit the shared retry budget (<c>trySpendRetry</c>
    /// takes one: null when taken, else why not). The upstream's <c>x-should-retry</c> overrides the status either
    /// way (a stream is never re-sent after its first token all the same: the pipeline has returned by then).
    /// The one place that tells the call why the layer stopped early.
    /// </summary>
    internal static async ValueTask<bool> ShouldRetryAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, ResilienceOptions options, TimeProvider time,
        Func<ResilienceContext, ValueTask<string?>>? trySpendRetry = null, int attemptNumber = 0)
    {
        var (retryable, stop) = await IsRetryableAsync(outcome, context, options, time).ConfigureAwait(false);

        // A later upstream can take the call: it moves there now rather than retry here (the failover says so on the span).
        if (retryable && UpstreamRoute.CurrentCanFailOver)
        {
            return false;
        }

        // Polly asks about the last attempt too; only a retry that would really happen spends the budget.
        if (retryable && trySpendRetry is not null && attemptNumber < options.MaxRetryAttempts && await trySpendRetry(context).ConfigureAwait(false) is { } spent)
        {
            (retryable, stop) = (false, (spent, null));
        }

        if (stop is var (reason, wait))
        {
            CallProgress.Current?.Stopped(reason, wait);
        }

        return retryable;
    }

    /// <summary>Whether the outcome is worth another attempt; when a server wait is what stops it, why and the wait.</summary>
    private static async ValueTask<(bool Retryable, (string Reason, TimeSpan? Wait)? Stop)> IsRetryableAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, ResilienceOptions options, TimeProvider time)
    {
        if (outcome.Exception is { } exception)
        {
            return (UpstreamOutcome.IsTransientException(exception) && !context.CancellationToken.IsCancellationRequested, null);
        }

        if (outcome.Result is not { } response || response.IsSuccessStatusCode)
        {
            return (false, null);
        }

        // The upstream's explicit advice wins over the status, as in OpenAI's own SDKs.
        switch (UpstreamOutcome.ShouldRetry(response))
        {
            case false:
                return (false, UpstreamOutcome.IsTransientStatus(response.StatusCode)
                    ? ($"Not retried: the upstream answered {(int)response.StatusCode} with {UpstreamOutcome.ShouldRetryHeader}: false.", null)
                    : null);
            case null when !UpstreamOutcome.IsTransientStatus(response.StatusCode):
                return (false, null);
            case null when response.StatusCode == HttpStatusCode.TooManyRequests
                && await UpstreamOutcome.ErrorCodeAsync(response, context.CancellationToken).ConfigureAwait(false) == UpstreamOutcome.InsufficientQuota:
                return (false, null);
        }

        if (UpstreamOutcome.ServerDelay(response, time.GetUtcNow()) is { } wait)
        {
            var left = options.TotalTimeout - CallClock.Elapsed(context, time);
            if (wait > options.MaxServerDelay || wait >= left)
            {
                Activity.Current?.AddEvent(new ActivityEvent(Events.ServerWaitBeyondBudget, tags: new ActivityTagsCollection
                {
                    [Tags.ServerDelayMs] = (long)wait.TotalMilliseconds,
                    [Tags.BudgetLeftMs] = (long)Math.Max(0, left.TotalMilliseconds),
                }));
                var reason = wait > options.MaxServerDelay
                    ? $"The upstream asked to wait {Seconds(wait)}, longer than {ResilienceOptions.SectionName}:MaxServerDelay ({Seconds(options.MaxServerDelay)})."
                    : $"The upstream asked to wait {Seconds(wait)}, more than the {Seconds(left)} left of {ResilienceOptions.SectionName}:TotalTimeout.";
                return (false, (reason, wait));
            }
        }

        return (true, null);
    }

    /// <summary>A duration as the messages of this layer write it: "1.5 s".</summary>
    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
