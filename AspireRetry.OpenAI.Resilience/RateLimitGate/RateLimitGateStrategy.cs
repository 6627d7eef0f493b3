using AspireRetry.OpenAI.Resilience.SharedState;
using Microsoft.Extensions.Http.Resilience;
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
/// The shared rate-limit gate as a Polly strategy, inside the retry and the breaker and outside the attempt timeout
/// (waiting at the gate is not the upstream being slow). Once per attempt it passes the gate
/// (<see cref="GateAdmission"/>), lets the attempt through, and teaches the gate from the response
/// (<see cref="GateLearning"/>); the first attempt of a call earns its share of the retry budget. It never retries
/// anything. With an <see cref="IUpstreamSharedState"/> (replicas), the shared state decides the start time and the
/// budget, and learns from every response.
/// </summary>
internal sealed class RateLimitGateStrategy : ResilienceStrategy<HttpResponseMessage>
{
    private static readonly ResiliencePropertyKey<int> GateAttemptsKey = new("aspireretry.gate.attempts");

    /// <summary>The request's estimated cost, read once per call (null: not a chat, Responses or embeddings request).</summary>
    private static readonly ResiliencePropertyKey<RequestCost?> CostKey = new("aspireretry.tokens.cost");

    /// <summary>The tokens an attempt reserved at the gate, for its HTTP span (<see cref="AttemptTelemetry"/>).</summary>
    public static readonly HttpRequestOptionsKey<long> EstimatedTokensKey = new("aspireretry.tokens.estimated");

    private readonly RateLimitGate _gate;
    private readonly RateLimitTelemetry _telemetry;
    private readonly SharedStateLink _shared;
    private readonly SharedStateKey _key;
    private readonly TimeProvider _time;
    private readonly GateAdmission _admission;
    private readonly GateLearning _learning;
    private readonly string _model;
    private int _tokenizerPreloaded;

    public RateLimitGateStrategy(
        ResilienceStrategyTelemetry polly, UpstreamLimits limits, ResilienceOptions options, TimeProvider time, RateLimitTelemetry telemetry, string model,
        SharedStateLink? sharedState = null, SharedStateKey key = default, RetryBudgetGuard? budget = null)
    {
        var shared = sharedState ?? SharedStateLink.None;
        _gate = limits.Gate;
        _telemetry = telemetry;
        _shared = shared;
        _key = key;
        _time = time;
        _admission = new GateAdmission(polly, limits.Gate, options, time, telemetry, model, shared, key);
        _learning = new GateLearning(polly, limits.Gate, time, shared, key);
        _model = model;
        Budget = budget ?? new RetryBudgetGuard(limits.Budget, limits.Gate, options, shared, key);
        Budget.Telemetry = polly;
        PreloadTokenizerOnceTokensCount(); // a configured token limit counts from the first call
    }

    /// <summary>The retry budget this gate records calls for; the retry strategy asks it before each retry.</summary>
    public RetryBudgetGuard Budget { get; }

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        GateAdmission.Admitted admitted;
        RequestCost? cost;
        try
        {
            admitted = await _admission.PassAsync(context, async () => (await CostAsync(context).ConfigureAwait(false))?.Total ?? 0)
                .ConfigureAwait(context.ContinueOnCapturedContext);
            cost = admitted.Tokens > 0 ? await CostAsync(context).ConfigureAwait(context.ContinueOnCapturedContext) : null;
        }
        catch (Exception ex) when (ex is RateLimitGateRejectedException or RequestTooLargeException or OperationCanceledException)
        {
            return Outcome.FromException<HttpResponseMessage>(ex);
        }

        if (admitted.Tokens > 0)
        {
            context.GetRequestMessage()?.Options.Set(EstimatedTokensKey, admitted.Tokens);
        }

        var attempts = context.Properties.GetValue(GateAttemptsKey, 0) + 1;
        context.Properties.Set(GateAttemptsKey, attempts);
        if (attempts == 1)
        {
            await Budget.RecordRequestAsync().ConfigureAwait(context.ContinueOnCapturedContext);
        }

        var sent = _time.GetTimestamp();
        var learned = false;
        var observed = false;
        var succeeded = false;
        try
        {
            var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
            if (outcome.Result is { } response)
            {
                succeeded = response.IsSuccessStatusCode;
                SettleOrHold(admitted, cost, succeeded);
                var sharedUnspent = !succeeded && admitted.SharedTokens ? admitted.Tokens : 0;
                learned = await _learning.LearnAsync(response, _time.GetElapsedTime(sent), context, admitted.Start, admitted.Token, sharedUnspent, admitted.Tokens)
                    .ConfigureAwait(context.ContinueOnCapturedContext);
                observed = true;
                PreloadTokenizerOnceTokensCount();
            }

            return outcome;
        }
        finally
        {
            if (!observed)
            {
                _gate.AttemptEnded(admitted.Start);
                await _admission.GiveBackAsync(admitted.Token, admitted.SharedTokens ? admitted.Tokens : 0).ConfigureAwait(false);
            }

            if (admitted.Kind == GateDecisionKind.GoAsProbe && !learned)
            {
                _gate.ProbeEnded();
            }
            else if (admitted.Kind == GateDecisionKind.GoInWindow)
            {
                _gate.WindowAttemptEnded(succeeded, _time.GetElapsedTime(sent));
            }
        }
    }

    /// <summary>
    /// Once the gate mirrors a token bucket, every attempt's tokens are counted: the model's tokenizer starts loading in the
    /// background now, so the first requests counted do not wait for it (<see cref="TokenCounter.Preload"/>).
    /// </summary>
    private void PreloadTokenizerOnceTokensCount()
    {
        if (Volatile.Read(ref _tokenizerPreloaded) == 0 && _gate.KnowsTokens && Interlocked.Exchange(ref _tokenizerPreloaded, 1) == 0)
        {
            TokenCounter.Preload(_model);
        }
    }

    /// <summary>
    /// The request's estimated tokens, read from its body once per call, when the gate mirrors a token bucket (the body
    /// is buffered by the read, and sent from that buffer).
    /// </summary>
    private async ValueTask<RequestCost?> CostAsync(ResilienceContext context)
    {
        if (context.Properties.TryGetValue(CostKey, out var known))
        {
            return known;
        }

        RequestCost? cost = null;
        if (context.GetRequestMessage() is { RequestUri: { } uri, Content: { } content })
        {
            var body = await content.ReadAsByteArrayAsync(context.CancellationToken).ConfigureAwait(false);
            cost = RequestCost.Read(uri, body, _gate.Completions);
        }

        context.Properties.Set(CostKey, cost);
        return cost;
    }

    /// <summary>
    /// A refused or failed answer spent none of the attempt's tokens: they come back before its headers re-sync the gate.
    /// An answer holds them until the call's usage settles them (the call scope, through the call's route).
    /// </summary>
    private void SettleOrHold(GateAdmission.Admitted admitted, RequestCost? cost, bool succeeded)
    {
        if (admitted.Tokens <= 0 || admitted.Start is not { } start || cost is null)
        {
            return;
        }

        if (!succeeded)
        {
            _gate.TokensUnspent(start);
        }
        else if (CallRoute.Current is { } route)
        {
            var (shared, key) = (_shared, _key);
            route.Tokens = new TokenReservation(_gate, cost, admitted.Tokens, _telemetry, admitted.SharedTokens
                ? (held, spent) => _ = shared.TryAsync((store, ct) => store.SettleTokensAsync(key, held, spent, ct), CancellationToken.None)
                : null);
        }
    }
}
