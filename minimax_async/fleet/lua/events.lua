-- EVENT: what a clone learnt about its account. ARGV: proc, kind, account, ...
--   rate_limited token ms  a 429: beside another clone of the fleet the account narrows to one
--                          clone for ms (strikes lower it for longer); alone it pauses for ms
--   take_out ms status detail  a 596/412: out of rotation; its waiters are told at once
--   deleted voice_id       a voice of the account was deleted
--   end_lease voice_id     a temporary voice's lease ended
--   count_failed           this process could not count the account's voices
local kind, a = ARGV[2], ARGV[3]
local k = key('acct', a)
evict(a)
if kind == 'rate_limited' then
  local token, ms = ARGV[4], tonumber(ARGV[5])
  local slots = key('slots', a)
  local others = redis.call('ZCARD', slots)
  if redis.call('ZSCORE', slots, token) then others = others - 1 end
  local st = acct(a)
  local narrowed = '0'
  if others > 0 then
    narrowed = '1'
    local strikes = key('strikes', a)
    redis.call('ZADD', strikes, NOW, token .. '|' .. NOW)
    redis.call('ZREMRANGEBYSCORE', strikes, '-inf', NOW - 60000)
    touch(strikes)
    local till = NOW + ms
    if redis.call('ZCARD', strikes) >= config().strikes then
      redis.call('DEL', strikes)
      till = math.max(till, NOW + config().lowered_ms)
    end
    if till > st.cap_until then redis.call('HSET', k, 'cap_until', till) end
  else
    if NOW + ms > st.paused_until then redis.call('HSET', k, 'paused_until', NOW + ms) end
  end
  touch(k)
  if redis.call('ZREM', slots, token) == 1 then
    redis.call('ZADD', key('adm', a), 'XX', NOW, token)
  end
  grant(a)
  return reply('K|' .. narrowed)
elseif kind == 'take_out' then
  local ms, status, detail = tonumber(ARGV[4]), ARGV[5], ARGV[6]
  local st = acct(a)
  local till = math.max(st.out_until, NOW + ms)
  redis.call('HSET', k, 'out_until', till, 'out_status', status, 'out_detail', detail)
  touch(k)
  local notice = '|' .. a .. '|' .. status .. '|' .. (till - NOW) .. '|' .. detail
  local wpin = key('wait', a)
  for _, m in ipairs(redis.call('ZRANGE', wpin, 0, -1)) do
    local t, _, name = waiter_parts(m)
    if name ~= '' and redis.call('HGET', key('names', a), name) == t then
      redis.call('HDEL', key('names', a), name)
    end
    tell(proc_of(m), 'O|' .. t .. notice)
  end
  redis.call('DEL', wpin)
  local cwait = key('cwait', a)
  for _, t in ipairs(redis.call('ZRANGE', cwait, 0, -1)) do tell(proc_of(t), 'O|' .. t .. notice) end
  redis.call('DEL', cwait)
  return reply('K')
elseif kind == 'deleted' then
  local voice_id = ARGV[4]
  redis.call('ZREM', key('voices', a), voice_id)
  redis.call('ZREM', key('owned', a), voice_id)
  local gone = key('gone', a)
  redis.call('ZADD', gone, NOW, voice_id)
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', NOW - DAY)
  touch(gone)
  grant(a)
  return reply('K')
elseif kind == 'end_lease' then
  redis.call('ZREM', key('leased', a), ME .. '|' .. ARGV[4])
  grant(a)
  return reply('K')
elseif kind == 'count_failed' then
  if redis.call('GET', key('counting', a)) == ME then redis.call('DEL', key('counting', a)) end
  return reply('K')
elseif kind == 'resolve' then
  -- a job in doubt looked for its earlier clone: claim the first listed candidate that no
  -- job of the fleet owns (adopt), or with adopt '0' clear the intent (it clones)
  local name, adopt = ARGV[4], ARGV[5] == '1'
  local dk = a .. '|' .. name
  if not adopt then
    redis.call('HDEL', P .. ':doubt', dk)
    return reply('K')
  end
  for i = 6, #ARGV do
    local id = ARGV[i]
    if not redis.call('ZSCORE', key('owned', a), id) then
      redis.call('ZADD', key('owned', a), NOW, id)
      touch(key('owned', a))
      redis.call('ZADD', key('voices', a), 'NX', NOW, id)
      touch(key('voices', a))
      redis.call('HDEL', P .. ':doubt', dk)
      grant(a)
      return reply('K|' .. id)
    end
  end
  return reply('K')
end
return redis.error_reply('unknown event ' .. kind)
