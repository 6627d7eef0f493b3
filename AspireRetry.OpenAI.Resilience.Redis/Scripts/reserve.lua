-- The rate-limit gate's reservation: RateLimitGate.Reserve's arithmetic, on the shared mirror.
-- KEYS: gate, starts. ARGV: maxWaitMs, a unique id for this start, startsKeptMs, expiryMs.
-- Returns {known, rejected, waitMs (string), generation, closed}.

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
