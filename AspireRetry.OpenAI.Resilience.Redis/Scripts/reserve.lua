-- The rate-limit gate's reservation: RateLimitGate.Reserve's arithmetic, on the shared mirrors of the upstream's request
-- and token buckets. An attempt of known cost also waits for its tokens, and takes them with its start.
-- KEYS: gate, starts, reserved (tokens held by each start). ARGV: maxWaitMs, a unique id for this start, startsKeptMs,
-- expiryMs, tokens (0 when unknown).
-- Returns {known, rejected, waitMs (string), generation, closed, forTokens, tokensReserved}.

local g = redis.call('HMGET', KEYS[1], 'rate', 'limit', 'reserve', 'usable', 'usableAt', 'openAt', 'gen',
  'tRate', 'tLimit', 'tUsable', 'tUsableAt')
local rate = tonumber(g[1])
local limit = tonumber(g[2]) or 0
local reserve = tonumber(g[3]) or 0
local usable = tonumber(g[4]) or 0
local usableAt = tonumber(g[5]) or now
local openAt = tonumber(g[6]) or 0
local gen = tonumber(g[7]) or 0
local tRate = tonumber(g[8])
local tokens = tonumber(ARGV[5]) or 0
if tokens <= 0 then
  tRate = nil
end
if not rate and not tRate and openAt <= now then
  return {0, 0, '0', gen, 0, 0, 0}
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
local forTokens = 0
local tUsable, tUsableAt
if tRate then
  local tCeiling = tonumber(g[9]) or 0
  tUsable = tonumber(g[10]) or 0
  tUsableAt = tonumber(g[11]) or now
  if now > tUsableAt then
    tUsable = math.min(math.max(tCeiling, tUsable), tUsable + tRate * (now - tUsableAt))
    tUsableAt = now
  end
  local need = math.min(tokens, tCeiling)
  if tUsable < need then
    local tStart = now + (need - tUsable) / tRate
    if tStart > start then
      start = tStart
      forTokens = 1
    end
  end
end
local wait = start - now
if wait > tonumber(ARGV[1]) then
  return {1, 1, tostring(wait), gen, closed, forTokens, 0}
end
if rate then
  usable = usable - 1
  redis.call('HSET', KEYS[1], 'usable', tostring(usable), 'usableAt', tostring(usableAt))
end
local tokensReserved = 0
if tRate then
  tUsable = tUsable - tokens
  redis.call('HSET', KEYS[1], 'tUsable', tostring(tUsable), 'tUsableAt', tostring(tUsableAt))
  redis.call('HSET', KEYS[3], ARGV[2], tokens)
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  tokensReserved = 1
end
redis.call('ZADD', KEYS[2], start, ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
if #old > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
  redis.call('HDEL', KEYS[3], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {1, 0, tostring(wait), gen, closed, forTokens, tokensReserved}
