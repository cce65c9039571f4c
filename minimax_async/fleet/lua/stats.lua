-- STATS: the fleet-wide figures of some accounts (read only). ARGV: proc, accounts...
local rows = {}
local c = config()
for i = 2, #ARGV do
  local a = ARGV[i]
  local st = acct(a)
  local voices = -1
  if st.known then voices = voice_count(a) end
  rows[#rows + 1] = table.concat({
    redis.call('ZCARD', key('slots', a)),
    redis.call('ZCARD', key('wait', a)) + redis.call('ZCARD', key('cwait', a)),
    redis.call('ZCARD', key('adm', a)), cap_of(st), voices,
    math.max(0, st.paused_until - NOW), math.max(0, st.out_until - NOW)}, '|')
end
rows[#rows + 1] = tostring(redis.call('ZCARD', P .. ':wait:any'))
return rows
