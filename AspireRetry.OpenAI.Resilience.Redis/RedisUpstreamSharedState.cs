using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AspireRetry.OpenAI.Resilience.SharedState;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis;

/// <summary>
/// <see cref="IUpstreamSharedState"/> in Redis: one Lua script per decision, so each is atomic across replicas, and
/// every script reads Redis's clock (<c>TIME</c>), so replicas never compare their own. Per upstream and model it keeps
/// a hash for the gate (the mirrors of the upstream's request and token buckets, the closed-until time and its generation),
/// a sorted set of recent start times, a hash of the tokens each start holds, a hash for the retry budget's window, a hash for the breaker's verdict and a key
/// for the one replica's check lease. All keys of one upstream and model share a hash tag (one cluster slot), hold no
/// secret (the endpoint is hashed) and expire an hour after their last write.
/// </summary>
public sealed class RedisUpstreamSharedState : IUpstreamSharedState
{
    private const string Prefix = "aspireretry:";
    private const long ExpiryMs = 3_600_000;

    // Start times older than this cannot be in flight any more (an attempt that old has timed out): trimmed.
    private const long StartsKeptMs = 120_000;

    private readonly IConnectionMultiplexer _redis;
    private readonly string _replica = Guid.NewGuid().ToString("N");

    /// <summary>A store on this connection; replicas given connections to one Redis share their state.</summary>
    /// <param name="redis">The connection (Aspire's <c>AddRedisClient</c> registers one).</param>
    public RedisUpstreamSharedState(IConnectionMultiplexer redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        _redis = redis;
    }

    private IDatabase Db => _redis.GetDatabase();

    /// <inheritdoc />
    public ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, CancellationToken cancellationToken) =>
        ReserveAsync(key, maxWait, 0, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, long tokens, CancellationToken cancellationToken)
    {
        var keys = Keys.Of(key);
        var token = Guid.NewGuid().ToString("N");
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.Reserve, [keys.Gate, keys.Starts, keys.Reserved],
            [Ms(maxWait), token, StartsKeptMs, ExpiryMs, tokens]).ConfigureAwait(false))!;
        var rejected = (int)result[1] == 1;
        return new SharedGateReservation(
            Known: (int)result[0] == 1, Rejected: rejected, Wait: FromMs((string?)result[2]), Generation: (long)result[3], Closed: (int)result[4] == 1,
            Token: (int)result[0] == 1 && !rejected ? token : null)
        {
            ForTokens = (int)result[5] == 1,
            TokensReserved = (int)result[6] == 1,
        };
    }

    /// <inheritdoc />
    public async ValueTask SettleTokensAsync(SharedStateKey key, long held, long spent, CancellationToken cancellationToken) =>
        await Db.ScriptEvaluateAsync(RedisScripts.Settle, [Keys.Of(key).Gate], [held, spent, ExpiryMs]).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<bool> IsCurrentAsync(SharedStateKey key, long generation, CancellationToken cancellationToken)
    {
        var current = await Db.HashGetAsync(Keys.Of(key).Gate, "gen").ConfigureAwait(false);
        return (current.IsNull ? 0 : (long)current) == generation;
    }

    /// <inheritdoc />
    public async ValueTask<TimeSpan?> ObserveAsync(SharedStateKey key, SharedRateLimitObservation observation, CancellationToken cancellationToken)
    {
        var keys = Keys.Of(key);
        var closedFor = (string?)await Db.ScriptEvaluateAsync(RedisScripts.Observe, [keys.Gate, keys.Starts, keys.Reserved],
        [
            Optional(observation.Limit), Optional(observation.Remaining),
            observation.RatePerMs is { } rate ? rate.ToString("R", CultureInfo.InvariantCulture) : "",
            observation.Reserve, observation.CloseFor is { } close ? Ms(close) : "", Ms(observation.Age), ExpiryMs, observation.Token ?? "",
            Optional(observation.TokenLimit), Optional(observation.TokenRemaining),
            observation.TokenRatePerMs is { } tokenRate ? tokenRate.ToString("R", CultureInfo.InvariantCulture) : "",
            observation.TokensUnspent,
        ]).ConfigureAwait(false);
        return closedFor is null or "-1" ? null : FromMs(closedFor);
    }

    /// <inheritdoc />
    public async ValueTask RecordRequestAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken) =>
        await BudgetAsync(key, "request", budget).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<SharedBudgetDecision> TryRetryAsync(SharedStateKey key, SharedBudgetRule budget, CancellationToken cancellationToken) =>
        BudgetAsync(key, "retry", budget);

    private async ValueTask<SharedBudgetDecision> BudgetAsync(SharedStateKey key, string op, SharedBudgetRule budget)
    {
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.Budget, [Keys.Of(key).Budget],
        [
            op, Ms(budget.Window / 10), budget.Ratio.ToString("R", CultureInfo.InvariantCulture),
            budget.MinRetriesPerSecond.ToString("R", CultureInfo.InvariantCulture), budget.Window.TotalSeconds.ToString("R", CultureInfo.InvariantCulture), ExpiryMs,
        ]).ConfigureAwait(false))!;
        return new SharedBudgetDecision((int)result[0] == 1, (int)result[1], (int)result[2], (int)result[3]);
    }

    /// <inheritdoc />
    public async ValueTask<SharedRecoveryState> ReadRecoveryAsync(SharedStateKey key, CancellationToken cancellationToken)
    {
        var result = await RecoveryAsync(key, "read").ConfigureAwait(false);
        return new SharedRecoveryState((int)result[0] == 1, FromMs((string?)result[1]));
    }

    /// <inheritdoc />
    public async ValueTask ReportDownAsync(SharedStateKey key, TimeSpan nextCheckIn, CancellationToken cancellationToken) =>
        await RecoveryAsync(key, "down", Ms(nextCheckIn), _replica).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<SharedCheckDecision> TryTakeCheckAsync(SharedStateKey key, TimeSpan lease, CancellationToken cancellationToken)
    {
        var result = await RecoveryAsync(key, "take", Math.Max(1, (long)Math.Ceiling(lease.TotalMilliseconds)), _replica).ConfigureAwait(false);
        return (int)result[0] switch
        {
            0 => new SharedCheckDecision(SharedCheckKind.Up, TimeSpan.Zero),
            1 => new SharedCheckDecision(SharedCheckKind.Check, TimeSpan.Zero),
            3 => new SharedCheckDecision(SharedCheckKind.NotDue, FromMs((string?)result[1])),
            _ => new SharedCheckDecision(SharedCheckKind.Wait, FromMs((string?)result[1])),
        };
    }

    /// <inheritdoc />
    public async ValueTask ReportUpAsync(SharedStateKey key, CancellationToken cancellationToken) =>
        await RecoveryAsync(key, "up").ConfigureAwait(false);

    private async Task<RedisResult[]> RecoveryAsync(SharedStateKey key, params RedisValue[] args)
    {
        var keys = Keys.Of(key);
        return (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.Recovery, [keys.Recovery, keys.Check], args).ConfigureAwait(false))!;
    }

    private static RedisValue Optional(long? value) => value is { } v ? v : "";

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("R", CultureInfo.InvariantCulture);

    private static TimeSpan FromMs(string? ms) =>
        double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 ? TimeSpan.FromMilliseconds(value) : TimeSpan.Zero;

    /// <summary>The keys of one upstream and model: one hash tag, so one cluster slot; the endpoint only as a hash.</summary>
    private readonly record struct Keys(RedisKey Gate, RedisKey Starts, RedisKey Reserved, RedisKey Budget, RedisKey Recovery, RedisKey Check)
    {
        public static Keys Of(SharedStateKey key)
        {
            var endpoint = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Endpoint)))[..8];
            var tag = $"{Prefix}{{{key.Upstream}|{key.Model}|{endpoint}}}:";
            return new Keys(tag + "gate", tag + "starts", tag + "reserved", tag + "budget", tag + "recovery", tag + "check");
        }
    }
}
