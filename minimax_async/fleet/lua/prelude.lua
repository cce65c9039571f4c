-- minimax_async fleet coordination: shared helpers, prepended to every script.
--
-- KEYS[1] is the namespace's config hash "{ns}:config"; every other key of the namespace is
-- built from its prefix "{ns}" (one hash tag: one Redis Cluster slot). ARGV[1] is the calling
-- process's id. Time is the server's (TIME); the client only sends durations.
local unpack = unpack or table.unpack
local CONFIG = KEYS[1]
local P = string.sub(CONFIG, 1, -8)
local ME = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local DAY = 86400000
local OUT = {}  -- messages for the caller (grants to its own waiters), returned after the answer

local function key(kind, a) return P .. ':' .. kind .. ':' .. a end
local function num(v, default) if v then return tonumber(v) or default end return default end

local C = nil
local function config()
  if C == nil then
    local v = redis.call('HMGET', CONFIG, 'cap', 'max_voices', 'prefetch', 'strikes', 'lowered_ms')
    C = {cap = num(v[1], 2), max_voices = num(v[2], -1), prefetch = num(v[3], 1),
         strikes = num(v[4], 3), lowered_ms = num(v[5], 300000)}
  end
  return C
end

-- a member is "proc|n" (a ticket) or "proc|n|flags|name" (an admission waiter)
local function proc_of(m) return string.match(m, '^([^|]*)|') end
local function token_of(m) return string.match(m, '^([^|]*|[^|]*)') end
local function waiter_parts(m)
  local p, n, flags, name = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return p .. '|' .. n, flags, name
end

local LIVE = {}
local function alive(p)
  local v = LIVE[p]
  if v == nil then
    v = p == ME or redis.call('EXISTS', P .. ':alive:' .. p) == 1
    LIVE[p] = v
  end
  return v
end

local function tell(p, msg)
  if p == ME then
    OUT[#OUT + 1] = msg
  else
    local w = P .. ':wake:' .. p
    redis.call('RPUSH', w, msg)
    redis.call('PEXPIRE', w, 60000)
  end
end

local function touch(k) redis.call('PEXPIRE', k, DAY) end

-- the clone is on the wire: its holds outlive a crash by the in-flight hold, and its intent
-- ("doubt") outlives the process, so whoever runs the (account, name) next adopts its voice
local function mark_sent(a, token, hold, name, started_ago)
  redis.call('ZADD', key('slots', a), 'XX', NOW + hold, token)
  redis.call('ZADD', key('adm', a), 'XX', NOW + hold, token)
  if name ~= '' then
    local d = P .. ':doubt'
    redis.call('HSET', d, a .. '|' .. name,
               token .. '|' .. (NOW - started_ago) .. '|' .. NOW .. '|' .. hold)
    redis.call('PEXPIRE', d, 7 * DAY)
  end
end


-- one account's state hash as numbers
local function acct(a)
  local v = redis.call('HMGET', key('acct', a), 'cap_until', 'paused_until', 'out_until',
                       'out_status', 'out_detail', 'known')
  return {cap_until = num(v[1], 0), paused_until = num(v[2], 0), out_until = num(v[3], 0),
          out_status = v[4] or '', out_detail = v[5] or '', known = v[6] == '1'}
end

local function cap_of(st)
  if st.cap_until > NOW then return 1 end
  return config().cap
end

-- drop the holds of dead processes whose score has passed (sent clones: sent + inflight hold)
local function evict(a)
  for _, kind in ipairs({'adm', 'slots', 'leased'}) do
    local k = key(kind, a)
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', k, '-inf', NOW)) do
      if not alive(proc_of(m)) then redis.call('ZREM', k, m) end
    end
  end
end

-- the oldest waiter of a FIFO whose process lives (dead heads are dropped)
local function live_head(k)
  while true do
    local h = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if #h == 0 then return nil, nil end
    if alive(proc_of(h[1])) then return h[1], tonumber(h[2]) end
    redis.call('ZREM', k, h[1])  -- its name entry is dropped by name_taken()
  end
end

local function voice_count(a)
  return redis.call('ZCARD', key('voices', a))
end

local function voice_room(a, nadm)
  local mv = config().max_voices
  if mv < 0 then return true end
  return voice_count(a) + nadm < mv
end

local function hopeless(a, st)
  local mv = config().max_voices
  if mv < 0 or not st.known then return false end
  local nadm = redis.call('ZCARD', key('adm', a))
  return nadm == 0 and voice_count(a) >= mv and redis.call('ZCARD', key('leased', a)) == 0
end

-- whether a live job holds the name on the account (a dead process's entry is dropped)
local function name_taken(a, name)
  if name == '' then return false end
  local holder = redis.call('HGET', key('names', a), name)
  if not holder then return false end
  if alive(proc_of(holder)) then return true end
  redis.call('HDEL', key('names', a), name)
  return false
end

local function in_rotation(p, a)
  return redis.call('SISMEMBER', P .. ':rot:' .. p, a) == 1
end

local function admit_to(a, token, name)
  redis.call('ZADD', key('adm', a), NOW, token)
  touch(key('adm', a))
  if name ~= '' then
    redis.call('HSET', key('names', a), name, token)
    touch(key('names', a))
  end
end

-- a slot granted to a queued ticket is marked as sending at once, with what it queued with
local function take_pending(a, token)
  local pend = key('pend', a)
  local info = redis.call('HGET', pend, token)
  if info then
    redis.call('HDEL', pend, token)
    local hold, ago, name = string.match(info, '^([^|]*)|([^|]*)|(.*)$')
    mark_sent(a, token, tonumber(hold), name, tonumber(ago))
  end
end

-- a job with nothing to upload (flags "h<hold_ms>") takes a free clone slot with its
-- admission, marked as sending: '|S' tells it so
local function take_at_once(a, st, token, flags, name)
  if string.sub(flags, 1, 1) ~= 'h' or st.paused_until > NOW then return '' end
  local slots = key('slots', a)
  if redis.call('ZCARD', slots) >= cap_of(st) or live_head(key('cwait', a)) ~= nil then
    return ''
  end
  redis.call('ZADD', slots, NOW, token)
  touch(slots)
  mark_sent(a, token, tonumber(string.sub(flags, 2)), name, 0)
  return '|S'
end

-- hand out what can be handed out on account a now, oldest first (slots, then admissions)
local function grant(a)
  local st = acct(a)
  if st.out_until > NOW then return end
  local c = config()
  local cap = cap_of(st)
  local slots, cwait, adm = key('slots', a), key('cwait', a), key('adm', a)
  if st.paused_until <= NOW then
    while redis.call('ZCARD', slots) < cap do
      local head = live_head(cwait)
      if not head then break end
      redis.call('ZREM', cwait, head)
      if redis.call('ZSCORE', adm, head) then
        redis.call('ZADD', slots, NOW, head)
        touch(slots)
        take_pending(a, head)
        tell(proc_of(head), 'S|' .. head .. '|' .. a)
      end
    end
  end
  if c.max_voices >= 0 and not st.known then return end
  local wpin, wany = key('wait', a), P .. ':wait:any'
  while true do
    local nadm = redis.call('ZCARD', adm)
    if nadm >= cap + c.prefetch or not voice_room(a, nadm) then break end
    local ph, ps = live_head(wpin)
    local uh, us = live_head(wany)
    if uh then
      local utoken, uflags, uname = waiter_parts(uh)
      if not in_rotation(proc_of(uh), a) or name_taken(a, uname)
         or (uflags ~= '1' and nadm >= cap) then
        uh = nil
      end
    end
    if ph then
      local _, pflags, _ = waiter_parts(ph)
      if pflags ~= '1' and nadm >= cap then ph = nil end
    end
    local pick, from = nil, nil
    if ph and (not uh or ps < us) then pick, from = ph, wpin
    elseif uh then pick, from = uh, wany end
    if not pick then break end
    redis.call('ZREM', from, pick)
    local token, flags, name = waiter_parts(pick)
    if from == wany then admit_to(a, token, name)
    else admit_to(a, token, '') end  -- a pinned waiter's name was registered when it queued
    tell(proc_of(pick), 'A|' .. token .. '|' .. a .. take_at_once(a, st, token, flags, name))
  end
  -- pinned waiters of an account that will never have room fail now
  if redis.call('ZCARD', wpin) > 0 and hopeless(a, st) then
    local count = voice_count(a)
    for _, m in ipairs(redis.call('ZRANGE', wpin, 0, -1)) do
      local token, _, name = waiter_parts(m)
      if name ~= '' and redis.call('HGET', key('names', a), name) == token then
        redis.call('HDEL', key('names', a), name)
      end
      tell(proc_of(m), 'H|' .. token .. '|' .. a .. '|' .. count .. '|' .. c.max_voices)
    end
    redis.call('DEL', wpin)
  end
end

local function reply(main)
  local r = {main}
  for _, m in ipairs(OUT) do r[#r + 1] = m end
  return r
end

