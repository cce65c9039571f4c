-- HEARTBEAT: keep this process's lease. 'K' if it was alive, 'L' if the lease had been lost
-- (expired or flushed): it is alive again, and must check its waiters.
-- ARGV: proc, ttl_ms
local alive_key = P .. ':alive:' .. ME
local ttl = tonumber(ARGV[2])
local lost = redis.call('SET', alive_key, '1', 'XX', 'PX', ttl) == false
if lost then redis.call('SET', alive_key, '1', 'PX', ttl) end
local rot = P .. ':rot:' .. ME
redis.call('PEXPIRE', rot, DAY)
if lost then return reply('L') end
return reply('K')
