-- SEND: a ticket handed a slot by another process's grant sends its clone now.
-- ARGV: proc, token, account, hold_ms, name, started_ms_ago
local token, a = ARGV[2], ARGV[3]
if not redis.call('ZSCORE', key('slots', a), token) then return reply('L') end
mark_sent(a, token, tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
return reply('G')
