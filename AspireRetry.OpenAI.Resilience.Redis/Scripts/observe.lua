-- What one response said: RateLimitGate.Observe's arithmetic. The attempt's own start is answered (taken off the
-- starts, and its tokens off those in flight; unspent ones come back); each mirror re-syncs never upwards, on the
-- published count less what was reserved since the request was sent and is not answered yet (still in flight, so not in
-- that count; for tokens, only the starts still to come: a request sent after this one may have reached the upstream
-- first, and taken off too its tokens would be spent twice); a closing bumps the generation and voids the start times
-- reserved after it (their tokens come back).
-- KEYS: gate, starts, reserved. ARGV: limit, remaining, ratePerMs, reserve, closeForMs ('' when none), ageMs, expiryMs,
-- token ('' when none), tokenLimit, tokenRemaining, tokenRatePerMs, tokensUnspent. No share of the token bucket is kept
-- back: each reservation holds its own margin for the estimate's error.
-- Returns closedForMs (string), or '-1' when this observation closed nothing.

local g = redis.call('HMGET', KEYS[1], 'rate', 'usable', 'usableAt', 'openAt', 'gen', 'limit', 'reserve',
  'tRate', 'tUsable', 'tUsableAt', 'tLimit')
local rate = tonumber(g[1])
local usable = tonumber(g[2]) or 0
local usableAt = tonumber(g[3]) or now
local openAt = tonumber(g[4]) or 0
local gen = tonumber(g[5]) or 0
local tRate = tonumber(g[8])
local tUsable = tonumber(g[9]) or 0
local tUsableAt = tonumber(g[10]) or now
local tLimit = tonumber(g[11]) or 0
local limit = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local newRate = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4]) or 0
local age = tonumber(ARGV[6]) or 0
if ARGV[8] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[8])
  redis.call('HDEL', KEYS[3], ARGV[8])
end

-- Tokens reserved by the starts after a time and still in flight.
local function heldSince(t)
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. tostring(t), '+inf')
  local sum = 0
  if #ids > 0 then
    for _, v in ipairs(redis.call('HMGET', KEYS[3], unpack(ids))) do
      sum = sum + (tonumber(v) or 0)
    end
  end
  return sum, ids
end

local function refillTokens()
  if tRate and now > tUsableAt then
    tUsable = math.min(math.max(tLimit, tUsable), tUsable + tRate * (now - tUsableAt))
    tUsableAt = now
  end
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

-- The attempt's unspent tokens come back first, then the count re-syncs the mirror never upwards (as the replica's own
-- gate does): added after it, a refusal's tokens would lift the mirror above the count by the refused request, and the
-- next request of its size would go out to meet the same 429.
local unspent = tonumber(ARGV[12]) or 0
if tRate and unspent > 0 then
  refillTokens()
  tUsable = math.min(tLimit, tUsable + unspent)
end
local tokenLimit = tonumber(ARGV[9])
local tokenRemaining = tonumber(ARGV[10])
local tokenRate = tonumber(ARGV[11])
if tokenLimit and tokenRemaining then
  if tokenRate then
    if not tRate then
      tUsable = tokenRemaining
      tUsableAt = now
    end
    tRate = tokenRate
  end
  tLimit = tokenLimit
  if tRate then
    refillTokens()
    local held = heldSince(now)
    tUsable = math.min(tUsable, tokenRemaining - held + tRate * age)
  end
end

local closedFor = '-1'
local closeFor = tonumber(ARGV[5])
if closeFor and now + closeFor > openAt then
  openAt = now + closeFor
  gen = gen + 1
  closedFor = tostring(closeFor)
  local voided, ids = heldSince(now)
  if #ids > 0 then
    redis.call('HDEL', KEYS[3], unpack(ids))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. tostring(now), '+inf')
  if tRate then
    refillTokens()
    tUsable = math.min(tLimit, tUsable + voided)
  end
  if rate then
    usable = 1 - rate * closeFor
    usableAt = now
  end
end
if rate then
  redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'usable', tostring(usable), 'usableAt', tostring(usableAt))
end
if tRate then
  redis.call('HSET', KEYS[1], 'tRate', tostring(tRate), 'tUsable', tostring(tUsable), 'tUsableAt', tostring(tUsableAt),
    'tLimit', tLimit)
end
redis.call('HSET', KEYS[1], 'openAt', tostring(openAt), 'gen', gen)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return closedFor
