-- An answered attempt's usage settles the tokens it reserved: what it held beyond what it spent comes back to the shared
-- token bucket (or what it spent beyond is taken), never above the bucket's ceiling.
-- KEYS: gate. ARGV: held, spent, expiryMs.

local g = redis.call('HMGET', KEYS[1], 'tRate', 'tUsable', 'tUsableAt', 'tLimit')
local tRate = tonumber(g[1])
if not tRate then
  return 0
end
local tUsable = tonumber(g[2]) or 0
local tUsableAt = tonumber(g[3]) or now
local ceiling = tonumber(g[4]) or 0
if now > tUsableAt then
  tUsable = math.min(math.max(ceiling, tUsable), tUsable + tRate * (now - tUsableAt))
  tUsableAt = now
end
tUsable = math.min(ceiling, tUsable + tonumber(ARGV[1]) - math.max(0, tonumber(ARGV[2])))
redis.call('HSET', KEYS[1], 'tUsable', tostring(tUsable), 'tUsableAt', tostring(tUsableAt))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
