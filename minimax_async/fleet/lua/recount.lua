-- RECOUNT: the account's voices as just listed, merged with what happened during the listing.
-- ARGV: proc, account, elapsed_ms (since the listing started), voice ids...
local a, elapsed = ARGV[2], tonumber(ARGV[3])
local started = NOW - elapsed - 20
local voices, gone = key('voices', a), key('gone', a)
-- what was known before the listing started is replaced by the listing; voices added since
-- (clones finished meanwhile) stay, and voices deleted since are not brought back
redis.call('ZREMRANGEBYSCORE', voices, '-inf', '(' .. started)
for i = 4, #ARGV do
  local id = ARGV[i]
  local g = redis.call('ZSCORE', gone, id)
  if not (g and tonumber(g) >= started) then redis.call('ZADD', voices, 'NX', started - 1, id) end
end
touch(voices)
redis.call('HSET', key('acct', a), 'known', '1', 'counted_at', NOW)
touch(key('acct', a))
if redis.call('GET', key('counting', a)) == ME then redis.call('DEL', key('counting', a)) end
grant(a)
return reply('K|' .. redis.call('ZCARD', voices))
