-- The breaker's verdict. KEYS: recovery, check lease. ARGV: op, then per op:
--   'read'                          -> {down, nextCheckInMs (string)}
--   'down', nextCheckInMs, replica  -> sets down with its next check, gives up this replica's lease
--   'take', leaseMs, replica        -> {0} up, {1} check, {2, leftOfLeaseMs (string)} another checks, {3, dueInMs (string)} not due
--   'up'                            -> clears the verdict and the lease

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
