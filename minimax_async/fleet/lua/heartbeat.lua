-- HEARTBEAT: keep this process's lease. 'K' if it was alive, 'L' if the lease had been lost
-- (expired or flushed): it is alive again, and must check its waiters.
-- Also sweeps dead processes: their waiters go at once (not only when they reach the head of
-- a queue), their holds as evict() allows (a sent clone's after its in-flight hold).
-- ARGV: proc, ttl_ms
local alive_key = P .. ':alive:' .. ME
local ttl = tonumber(ARGV[2])
local lost = redis.call('SET', alive_key, '1', 'XX', 'PX', ttl) == false
if lost then redis.call('SET', alive_key, '1', 'PX', ttl) end
local rot = P .. ':rot:' .. ME
redis.call('PEXPIRE', rot, DAY)
local procs = P .. ':procs'
redis.call('HSET', procs, ME, 'live')
touch(procs)

local function mine(m, p) return string.sub(m, 1, #p + 1) == p .. '|' end

local function sweep(p, state)
  local accounts = redis.call('SMEMBERS', P .. ':rot:' .. p)
  local left = 0
  for _, a in ipairs(accounts) do
    evict(a)
    if state ~= 'swept' then
      for _, kind in ipairs({'wait', 'cwait'}) do
        local k = key(kind, a)
        for _, m in ipairs(redis.call('ZRANGE', k, 0, -1)) do
          if mine(m, p) then
            redis.call('ZREM', k, m)
            if kind == 'wait' then
              local t, _, name = waiter_parts(m)
              if name ~= '' and redis.call('HGET', key('names', a), name) == t then
                redis.call('HDEL', key('names', a), name)
              end
            end
          end
        end
      end
      local pend = key('pend', a)
      for _, t in ipairs(redis.call('HKEYS', pend)) do
        if mine(t, p) then redis.call('HDEL', pend, t) end
      end
    end
    for _, kind in ipairs({'adm', 'slots', 'leased'}) do
      for _, m in ipairs(redis.call('ZRANGE', key(kind, a), 0, -1)) do
        if mine(m, p) then left = left + 1 end
      end
    end
    grant(a)
  end
  if state ~= 'swept' then
    local wany = P .. ':wait:any'
    for _, m in ipairs(redis.call('ZRANGE', wany, 0, -1)) do
      if mine(m, p) then redis.call('ZREM', wany, m) end
    end
  end
  if left == 0 then
    redis.call('HDEL', procs, p)
    redis.call('DEL', P .. ':rot:' .. p, P .. ':wake:' .. p)
  else
    redis.call('HSET', procs, p, 'swept')
  end
end

local all = redis.call('HGETALL', procs)
for i = 1, #all, 2 do
  local p, state = all[i], all[i + 1]
  if p ~= ME and not alive(p) then sweep(p, state) end
end
if lost then return reply('L') end
return reply('K')
