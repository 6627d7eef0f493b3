using AspireRetry.OpenAIEmulator.RateLimiting;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// Decides each model request's outcome. Precedence: a scripted outcome (exact, bypasses the
/// buckets), then the token buckets when rate limiting is on, then one roll of the profile's dice.
/// </summary>
public sealed class ChaosEngine(ChaosScript script, RateLimitBuckets buckets, IOptions<EmulatorOptions> options, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Random _random = options.Value.Seed is { } seed ? new Random(seed) : new Random();
    private ChaosProfile _profile = options.Value.Chaos;

    public ChaosProfile Profile
    {
        get => Volatile.Read(ref _profile);
        set => Volatile.Write(ref _profile, value);
    }

    public ChaosDecision Decide(string? caller, string model, bool stream, int tokens)
    {
        var current = Profile;
        var scripted = script.TryDequeue(caller);
        RateLimitResult limit;
        ChaosOutcome outcome;
        if (scripted is not null)
        {
            outcome = scripted;
            limit = new RateLimitResult(true, buckets.Peek(caller, model, tokens, current.RateLimiter), TimeSpan.Zero, null, tokens);
        }
        else
        {
            limit = buckets.TryAcquire(caller, model, tokens, current.RateLimiter);
            outcome = ChaosOutcome.Rolled(limit.Admitted ? Roll(current) : Fault.RateLimitedByBucket);
        }

        // A plain response has no stream to cut: the nearest real failure is a reset connection.
        var fault = outcome.Fault == Fault.MidStreamDisconnect && !stream ? Fault.Reset : outcome.Fault;

        return new ChaosDecision(
            outcome,
            fault,
            limit,
            RetryAfterFor(fault, outcome, limit, current),
            PacingFor(fault, outcome, current),
            TimeSpan.FromMilliseconds(outcome.Milliseconds is { } ms && fault == Fault.Hang ? ms : current.HangMs))
        {
            RateLimitHeaders = current.RateLimiter.HeaderStyle,
        };
    }

    private Fault Roll(ChaosProfile current)
    {
        double roll;
        lock (_lock)
        {
            roll = _random.NextDouble();
        }

        var cumulative = 0.0;
        foreach (var (_, probability, fault) in current.Probabilities())
        {
            cumulative += probability;
            if (probability > 0 && roll < cumulative)
            {
                return fault;
            }
        }

        return Fault.None;
    }

    private RetryAdvice? RetryAfterFor(Fault fault, ChaosOutcome outcome, RateLimitResult limit, ChaosProfile current) => fault switch
    {
        Fault.RateLimit or Fault.ServiceUnavailable when outcome.RetryAfter is { } spec => RetryAdvice.FromSpec(spec, time.GetUtcNow()),
        Fault.RateLimit => RetryAdvice.For(current.RetryAfterMs, current.RetryAfterHeaders),
        Fault.ServiceUnavailable when current.RetryAfterMs > 0 => RetryAdvice.For(current.RetryAfterMs, current.RetryAfterHeaders),
        Fault.RateLimitedByBucket when !limit.TooLarge => RetryAdvice.For(Math.Max(1, TokenBucket.CeilingMilliseconds(limit.RetryAfter)), current.RetryAfterHeaders),
        _ => null,
    };

    private StreamPacing PacingFor(Fault fault, ChaosOutcome outcome, ChaosProfile current)
    {
        var firstToken = fault == Fault.SlowFirstToken
            ? outcome.Milliseconds ?? current.SlowFirstTokenMs
            : current.FirstTokenDelayMs ?? options.Value.FirstTokenDelayMs;
        var tokensPerSecond = fault == Fault.SlowStream
            ? outcome.TokensPerSecond ?? current.SlowTokensPerSecond
            : current.TokensPerSecond ?? options.Value.TokensPerSecond;
        int? disconnectAfter = fault == Fault.MidStreamDisconnect ? outcome.AfterChunks ?? current.DisconnectAfterChunks : null;
        return new StreamPacing(TimeSpan.FromMilliseconds(firstToken), tokensPerSecond, disconnectAfter);
    }
}
