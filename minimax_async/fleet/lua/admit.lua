-- ADMIT: may this job be admitted (hold a voice-slot reservation) on an account now?
-- ARGV: proc, token, seq ('' = take the next), account ('' = any account), name,
--       flags ('1': it uploads first, may be admitted ahead of a free slot; 'h<ms>': nothing
--       to upload, take a free clone slot at once and mark it as sending with that hold),
--       prefer, give_up ('1'), rotation accounts... (for any)
local token, seq, a, name, flags = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ahead, prefer, give_up = flags == '1', ARGV[7], ARGV[8] == '1'
if seq == '' then seq = tostring(redis.call('INCR', P .. ':seq')) end
local member = token .. '|' .. flags .. '|' .. name
local c = config()
local function room(a2, st, nadm)
  return nadm < cap_of(st) + (ahead and c.prefetch or 0) and voice_room(a2, nadm)
end
local function wait_ms(st)
  if st.cap_until > NOW then return st.cap_until - NOW end
  return 0
end
local function out_reply(a2, st)
  return 'O|' .. seq .. '|' .. a2 .. '|' .. st.out_status .. '|' .. (st.out_until - NOW) .. '|'
         .. st.out_detail
end
local function counts(list)
  local parts = {}
  for _, a2 in ipairs(list) do
    parts[#parts + 1] = a2 .. '=' .. (voice_count(a2) + redis.call('ZCARD', key('adm', a2)))
  end
  return 'H|' .. seq .. '|' .. c.max_voices .. '|' .. table.concat(parts, ',')
end
local function head_older(k, other_than)
  local h = live_head(k)
  return h ~= nil and token_of(h) ~= other_than
end

if a ~= '' then
  evict(a)
  local st = acct(a)
  if st.out_until > NOW then return reply(out_reply(a, st)) end
  local holder = name ~= '' and redis.call('HGET', key('names', a), name)
  if holder and holder ~= token and name_taken(a, name) then return reply('D|' .. seq) end
  if name ~= '' then
    local d = redis.call('HGET', P .. ':doubt', a .. '|' .. name)
    if d and token_of(d) ~= token then
      -- in doubt: wait until the clone surely ended (sent + hold), then look for its voice
      local started, sent, hold = string.match(d, '(%d+)|(%d+)|(%d+)$')
      local wait = math.max(0, tonumber(sent) + tonumber(hold) - NOW)
      return reply('Q|' .. seq .. '|' .. wait .. '|' .. (NOW - tonumber(started)) .. '|' .. a)
    end
  end
  local wpin = key('wait', a)
  if c.max_voices >= 0 and not st.known then
    redis.call('ZADD', wpin, seq, member)
    touch(wpin)
    if name ~= '' then redis.call('HSET', key('names', a), name, token); touch(key('names', a)) end
    if redis.call('SET', key('counting', a), ME, 'NX', 'PX', 30000) then
      return reply('C|' .. seq .. '|' .. a)
    end
    return reply('W|' .. seq .. '|0')
  end
  local nadm = redis.call('ZCARD', key('adm', a))
  local uh = live_head(P .. ':wait:any')
  local blocked = head_older(wpin, token) or (uh ~= nil and in_rotation(proc_of(uh), a))
  if not blocked and room(a, st, nadm) then
    admit_to(a, token, name)
    return reply('A|' .. seq .. '|' .. a .. take_at_once(a, st, token, flags, name))
  end
  if hopeless(a, st) then return reply(counts({a})) end
  redis.call('ZADD', wpin, seq, member)
  touch(wpin)
  if name ~= '' then redis.call('HSET', key('names', a), name, token); touch(key('names', a)) end
  grant(a)
  return reply('W|' .. seq .. '|' .. wait_ms(st))
end

-- any account of the caller's rotation
local rotation = {}
for i = 9, #ARGV do rotation[#rotation + 1] = ARGV[i] end
local rot = P .. ':rot:' .. ME
if #rotation > 0 then redis.call('SADD', rot, unpack(rotation)); touch(rot) end
local wany = P .. ':wait:any'
if name ~= '' then
  -- a placed job whose name a crashed run left in doubt on one of the accounts goes there
  -- first, to adopt that clone's voice (design 9: resume of an unpinned job)
  for _, a2 in ipairs(rotation) do
    local d = redis.call('HGET', P .. ':doubt', a2 .. '|' .. name)
    if d and token_of(d) ~= token and not name_taken(a2, name) then
      local started, sent, hold = string.match(d, '(%d+)|(%d+)|(%d+)$')
      local wait = math.max(0, tonumber(sent) + tonumber(hold) - NOW)
      return reply('Q|' .. seq .. '|' .. wait .. '|' .. (NOW - tonumber(started)) .. '|' .. a2)
    end
  end
end
local states, need, uncounted = {}, {}, false
for _, a2 in ipairs(rotation) do
  evict(a2)
  local st = acct(a2)
  states[a2] = st
  if st.out_until <= NOW and c.max_voices >= 0 and not st.known then
    uncounted = true
    if redis.call('SET', key('counting', a2), ME, 'NX', 'PX', 30000) then need[#need + 1] = a2 end
  end
end
local function queue()
  redis.call('ZADD', wany, seq, member)
  touch(wany)
end
if uncounted then
  queue()
  if #need > 0 then return reply('C|' .. seq .. '|' .. table.concat(need, ',')) end
  return reply('W|' .. seq .. '|0')
end
local best, best_key = nil, nil
if not head_older(wany, token) then
  local n = #rotation
  for i = 0, n - 1 do
    local a2 = rotation[((tonumber(seq) + i) % n) + 1]
    local st = states[a2]
    local nadm = redis.call('ZCARD', key('adm', a2))
    if st.out_until <= NOW and room(a2, st, nadm) and live_head(key('wait', a2)) == nil
       and not name_taken(a2, name) then
      local paused = st.paused_until > NOW and 1 or 0
      local k2 = {paused, nadm / cap_of(st), voice_count(a2) + nadm}
      if a2 == prefer then k2 = {-1, 0, 0} end
      if best == nil or k2[1] < best_key[1]
         or (k2[1] == best_key[1] and (k2[2] < best_key[2]
             or (k2[2] == best_key[2] and k2[3] < best_key[3]))) then
        best, best_key = a2, k2
      end
    end
  end
end
if best then
  admit_to(best, token, name)
  return reply('A|' .. seq .. '|' .. best .. take_at_once(best, states[best], token, flags, name))
end
local open, soonest, soonest_st = {}, nil, nil
for _, a2 in ipairs(rotation) do
  local st = states[a2]
  if st.out_until <= NOW then open[#open + 1] = a2
  elseif soonest == nil or st.out_until < soonest_st.out_until then soonest, soonest_st = a2, st end
end
if #open == 0 and soonest then return reply(out_reply(soonest, soonest_st)) end
local all_hopeless = #open > 0
for _, a2 in ipairs(open) do
  if not hopeless(a2, states[a2]) then all_hopeless = false end
end
if all_hopeless then return reply(counts(open)) end
if give_up then return reply('N|' .. seq) end
queue()
local ms = 0
for _, a2 in ipairs(open) do
  local w = wait_ms(states[a2])
  if w > 0 and (ms == 0 or w < ms) then ms = w end
end
return reply('W|' .. seq .. '|' .. ms)
