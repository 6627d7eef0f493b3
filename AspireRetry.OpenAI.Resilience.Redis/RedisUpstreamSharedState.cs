using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace AspireRetry.OpenAI.Resilience.Redis;

/// <summary>
/// <see cref="IUpstreamSharedState"/> in Redis: one Lua script per decision, so each is atomic across replicas, and
/// every script reads Redis's clock (<c>TIME</c>), so replicas never compare their own. Per upstream and model it keeps
/// a hash for the gate (the mirror of the upstream's request bucket, the closed-until time and its generation), a
/// sorted set of recent start times, a hash for the retry budget's window, a hash for the breaker's verdict and a key
/// for the one replica's check lease. All keys of one upstream and model share a hash tag (one cluster slot), hold no
/// secret (the endpoint is hashed) and expire an hour after their last write.
/// </summary>
public sealed class RedisUpstreamSharedState : IUpstreamSharedState
{
    private const string Prefix = "aspireretry:";
    private const long ExpiryMs = 3_600_000;

    // Start times older than this cannot be in flight any more (an attempt that old has timed out): trimmed.
    private const long StartsKeptMs = 120_000;

    private const string Clock = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        """;

    // The rate-limit gate's reservation: RateLimitGate.Reserve's arithmetic, on the shared mirror.
    // KEYS: gate, starts. ARGV: maxWaitMs, a unique id for this start, startsKeptMs, expiryMs.
    // Returns {known, rejected, waitMs (string), generation, closed}.
    private const string ReserveScript = Clock + "\n" + """
        local g = redis.call('HMGET', KEYS[1], 'rate', 'limit', 'reserve', 'usable', 'usableAt', 'openAt', 'gen')
        local rate = tonumber(g[1])
        local limit = tonumber(g[2]) or 0
        local reserve = tonumber(g[3]) or 0
        local usable = tonumber(g[4]) or 0
        local usableAt = tonumber(g[5]) or now
        local openAt = tonumber(g[6]) or 0
        local gen = tonumber(g[7]) or 0
        if not rate and openAt <= now then
          return {0, 0, '0', gen, 0}
        end
        local start = now
        if rate then
          if now > usableAt then
            usable = math.min(math.max(limit - reserve, usable), usable + rate * (now - usableAt))
            usableAt = now
          end
          if usable < 1 then
            start = now + (1 - usable) / rate
          end
        end
        local closed = 0
        if openAt > now then
          closed = 1
        end
        if openAt > start then
          start = openAt
        end
        local wait = start - now
        if wait > tonumber(ARGV[1]) then
          return {1, 1, tostring(wait), gen, closed}
        end
        if rate then
          usable = usable - 1
          redis.call('HSET', KEYS[1], 'usable', tostring(usable), 'usableAt', tostring(usableAt))
        end
        redis.call('ZADD', KEYS[2], start, ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        return {1, 0, tostring(wait), gen, closed}
        """;

    // What one response said: RateLimitGate.Observe's arithmetic. The attempt's own start is answered (taken off the
    // starts); the mirror re-syncs never upwards, on the published count less the starts since the request was sent that
    // are not answered yet (still in flight, so not in that count); a closing bumps the generation and voids the start
    // times reserved after it.
    // KEYS: gate, starts. ARGV: limit, remaining, ratePerMs, reserve, closeForMs ('' when none), ageMs, expiryMs, token ('' when none).
    // Returns closedForMs (string), or '-1' when this observation closed nothing.
    private const string ObserveScript = Clock + "\n" + """
        local g = redis.call('HMGET', KEYS[1], 'rate', 'usable', 'usableAt', 'openAt', 'gen', 'limit', 'reserve')
        local rate = tonumber(g[1])
        local usable = tonumber(g[2]) or 0
        local usableAt = tonumber(g[3]) or now
        local openAt = tonumber(g[4]) or 0
        local gen = tonumber(g[5]) or 0
        local limit = tonumber(ARGV[1])
        local remaining = tonumber(ARGV[2])
        local newRate = tonumber(ARGV[3])
        local reserve = tonumber(ARGV[4]) or 0
        local age = tonumber(ARGV[6]) or 0
        if ARGV[8] ~= '' then
          redis.call('ZREM', KEYS[2], ARGV[8])
        end
        if limit and remaining then
          if newRate then
            if not rate then
              usable = remaining - reserve
              usableAt = now
            end
            rate = newRate
          end
          if rate then
            if now > usableAt then
              usable = math.min(math.max(limit - reserve, usable), usable + rate * (now - usableAt))
              usableAt = now
            end
            local ours = redis.call('ZCOUNT', KEYS[2], '(' .. tostring(now - age), '+inf')
            usable = math.min(usable, remaining - reserve - ours + rate * age)
          end
          redis.call('HSET', KEYS[1], 'limit', limit, 'reserve', reserve)
        end
        local closedFor = '-1'
        local closeFor = tonumber(ARGV[5])
        if closeFor and now + closeFor > openAt then
          openAt = now + closeFor
          gen = gen + 1
          closedFor = tostring(closeFor)
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. tostring(now), '+inf')
          if rate then
            usable = 1 - rate * closeFor
            usableAt = now
          end
        end
        if rate then
          redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'usable', tostring(usable), 'usableAt', tostring(usableAt))
        end
        redis.call('HSET', KEYS[1], 'openAt', tostring(openAt), 'gen', gen)
        redis.call('PEXPIRE', KEYS[1], ARGV[7])
        return closedFor
        """;

    // The retry budget's sliding window in ten slots of Redis time: fields r:<slot> (first attempts) and t:<slot> (retries).
    // KEYS: budget. ARGV: 'request' | 'retry', slotMs, ratio, minRetriesPerSecond, windowSeconds, expiryMs.
    // Returns {allowed, requests, retries, limit}.
    private const string BudgetScript = Clock + "\n" + """
        local slot = math.floor(now / tonumber(ARGV[2]))
        local requests, retries = 0, 0
        local all = redis.call('HGETALL', KEYS[1])
        for i = 1, #all, 2 do
          local kind, s = string.match(all[i], '^(%a):(%d+)$')
          s = tonumber(s)
          if s == nil or slot - s >= 10 then
            redis.call('HDEL', KEYS[1], all[i])
          elseif kind == 'r' then
            requests = requests + tonumber(all[i + 1])
          else
            retries = retries + tonumber(all[i + 1])
          end
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[6])
        if ARGV[1] == 'request' then
          redis.call('HINCRBY', KEYS[1], 'r:' .. slot, 1)
          return {1, requests + 1, retries, 0}
        end
        local allowed = math.floor(tonumber(ARGV[3]) * requests + tonumber(ARGV[4]) * tonumber(ARGV[5]))
        if retries + 1 > allowed then
          return {0, requests, retries, allowed}
        end
        redis.call('HINCRBY', KEYS[1], 't:' .. slot, 1)
        return {1, requests, retries + 1, allowed}
        """;

    // The breaker's verdict. KEYS: recovery, check lease. ARGV: op, then per op:
    //   'read'                          -> {down, nextCheckInMs (string)}
    //   'down', nextCheckInMs, replica  -> sets down with its next check, gives up this replica's lease
    //   'take', leaseMs, replica        -> {0} up, {1} check, {2, leftOfLeaseMs (string)} another checks, {3, dueInMs (string)} not due
    //   'up'                            -> clears the verdict and the lease
    private const string RecoveryScript = Clock + "\n" + """
        local op = ARGV[1]
        if op == 'up' then
          redis.call('DEL', KEYS[1], KEYS[2])
          return {0}
        end
        local state = redis.call('HGET', KEYS[1], 'state')
        local checkAt = tonumber(redis.call('HGET', KEYS[1], 'checkAt')) or now
        if op == 'read' then
          if state == 'down' then
            return {1, tostring(math.max(0, checkAt - now))}
          end
          return {0, '0'}
        end
        if op == 'down' then
          redis.call('HSET', KEYS[1], 'state', 'down', 'checkAt', tostring(now + tonumber(ARGV[2])))
          redis.call('PEXPIRE', KEYS[1], 3600000)
          if redis.call('GET', KEYS[2]) == ARGV[3] then
            redis.call('DEL', KEYS[2])
          end
          return {1}
        end
        if state ~= 'down' then
          return {0}
        end
        if checkAt > now then
          return {3, tostring(checkAt - now)}
        end
        local holder = redis.call('GET', KEYS[2])
        if holder == ARGV[3] or redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then
          return {1}
        end
        return {2, tostring(math.max(1, redis.call('PTTL', KEYS[2])))}
        """;

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
    public async ValueTask<SharedGateReservation> ReserveAsync(SharedStateKey key, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var keys = Keys.Of(key);
        var token = Guid.NewGuid().ToString("N");
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(ReserveScript, [keys.Gate, keys.Starts],
            [Ms(maxWait), token, StartsKeptMs, ExpiryMs]).ConfigureAwait(false))!;
        var rejected = (int)result[1] == 1;
        return new SharedGateReservation(
            Known: (int)result[0] == 1, Rejected: rejected, Wait: FromMs((string?)result[2]), Generation: (long)result[3], Closed: (int)result[4] == 1,
            Token: (int)result[0] == 1 && !rejected ? token : null);
    }

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
        var closedFor = (string?)await Db.ScriptEvaluateAsync(ObserveScript, [keys.Gate, keys.Starts],
        [
            Optional(observation.Limit), Optional(observation.Remaining),
            observation.RatePerMs is { } rate ? rate.ToString("R", CultureInfo.InvariantCulture) : "",
            observation.Reserve, observation.CloseFor is { } close ? Ms(close) : "", Ms(observation.Age), ExpiryMs, observation.Token ?? "",
        ]).ConfigureAwait(false);
        return closedFor is null or "-1" ? null : FromMs(closedFor);
    }

    /// <inheritdoc />
    public async ValueTask RecordRequestAsync(SharedStateKey key, RetryBudgetOptions budget, CancellationToken cancellationToken) =>
        await BudgetAsync(key, "request", budget).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<SharedBudgetDecision> TryRetryAsync(SharedStateKey key, RetryBudgetOptions budget, CancellationToken cancellationToken) =>
        BudgetAsync(key, "retry", budget);

    private async ValueTask<SharedBudgetDecision> BudgetAsync(SharedStateKey key, string op, RetryBudgetOptions budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(BudgetScript, [Keys.Of(key).Budget],
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
        return (RedisResult[])(await Db.ScriptEvaluateAsync(RecoveryScript, [keys.Recovery, keys.Check], args).ConfigureAwait(false))!;
    }

    private static RedisValue Optional(long? value) => value is { } v ? v : "";

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("R", CultureInfo.InvariantCulture);

    private static TimeSpan FromMs(string? ms) =>
        double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 ? TimeSpan.FromMilliseconds(value) : TimeSpan.Zero;

    /// <summary>The keys of one upstream and model: one hash tag, so one cluster slot; the endpoint only as a hash.</summary>
    private readonly record struct Keys(RedisKey Gate, RedisKey Starts, RedisKey Budget, RedisKey Recovery, RedisKey Check)
    {
        public static Keys Of(SharedStateKey key)
        {
            var endpoint = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Endpoint)))[..8];
            var tag = $"{Prefix}{{{key.Upstream}|{key.Model}|{endpoint}}}:";
            return new Keys(tag + "gate", tag + "starts", tag + "budget", tag + "recovery", tag + "check");
        }
    }
}
