-- RELEASE: the ticket gives back its clone slot (it keeps its admission). ARGV: proc, token, account
local token, a = ARGV[2], ARGV[3]
if redis.call('ZREM', key('slots', a), token) == 1 then
  redis.call('ZADD', key('adm', a), 'XX', NOW, token)
end
redis.call('ZREM', key('cwait', a), token)
redis.call('HDEL', key('pend', a), token)
grant(a)
return reply('K')
