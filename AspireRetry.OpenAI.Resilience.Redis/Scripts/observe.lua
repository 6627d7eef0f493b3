-- What one response said: RateLimitGate.Observe's arithmetic. The attempt's own start is answered (taken off the
-- starts); the mirror re-syncs never upwards, on the published count less the starts since the request was sent that
-- are not answered yet (still in flight, so not in that count); a closing bumps the generation and voids the start
-- times reserved after it.
-- KEYS: gate, starts. ARGV: limit, remaining, ratePerMs, reserve, closeForMs ('' when none), ageMs, expiryMs, token ('' when none).
-- Returns closedForMs (string), or '-1' when this observation closed nothing.

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
