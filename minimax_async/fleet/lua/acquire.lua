-- ACQUIRE: may this admitted ticket take a clone slot now? With hold_ms > 0 the slot is
-- marked as sending at once (a clone with nothing to upload costs one round trip).
-- ARGV: proc, token, seq, account, hold_ms, name, started_ms_ago
local token, seq, a, hold = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local name, started_ago = ARGV[6], tonumber(ARGV[7])
local slots, cwait, adm = key('slots', a), key('cwait', a), key('adm', a)
evict(a)
if not redis.call('ZSCORE', adm, token) then return reply('L') end
local function sent()
  if hold > 0 then mark_sent(a, token, hold, name, started_ago) end
  return reply('G')
end
if redis.call('ZSCORE', slots, token) then return sent() end
local st = acct(a)
if st.out_until > NOW then
  return reply('O|' .. a .. '|' .. st.out_status .. '|' .. (st.out_until - NOW) .. '|'
               .. st.out_detail)
end
local function queue()
  redis.call('ZADD', cwait, seq, token)
  touch(cwait)
  if hold > 0 then
    redis.call('HSET', key('pend', a), token, hold .. '|' .. started_ago .. '|' .. name)
    touch(key('pend', a))
  end
end
if st.paused_until > NOW then
  queue()
  return reply('W|' .. (st.paused_until - NOW))
end
local head, hs = live_head(cwait)
if redis.call('ZCARD', slots) < cap_of(st) and (head == nil or head == token
                                                or hs > tonumber(seq)) then
  redis.call('ZREM', cwait, token)
  redis.call('ZADD', slots, NOW, token)
  touch(slots)
  return sent()
end
queue()
if st.cap_until > NOW then return reply('W|' .. (st.cap_until - NOW)) end
return reply('W|0')
