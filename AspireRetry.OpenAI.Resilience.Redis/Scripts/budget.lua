-- The retry budget's sliding window in ten slots of Redis time: fields r:<slot> (first attempts) and t:<slot> (retries).
-- KEYS: budget. ARGV: 'request' | 'retry', slotMs, ratio, minRetriesPerSecond, windowSeconds, expiryMs.
-- Returns {allowed, requests, retries, limit}.

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
