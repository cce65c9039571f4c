-- SETUP: join the namespace. Settings that must agree across the fleet are written by the
-- first process (HSETNX) and compared by every later one.
-- ARGV: proc, ttl_ms, rotation count n, n accounts, then field/value pairs
local ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local rot = P .. ':rot:' .. ME
redis.call('DEL', rot)
if n > 0 then
  local accounts = {}
  for i = 4, 3 + n do accounts[#accounts + 1] = ARGV[i] end
  redis.call('SADD', rot, unpack(accounts))
  touch(rot)
end
for i = 4 + n, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  redis.call('HSETNX', CONFIG, field, value)
  local theirs = redis.call('HGET', CONFIG, field)
  if theirs ~= value then return reply('X|' .. field .. '|' .. theirs .. '|' .. value) end
end
redis.call('SET', P .. ':alive:' .. ME, '1', 'PX', ttl)
redis.call('HSET', P .. ':procs', ME, 'live')
touch(P .. ':procs')
return reply('K')
