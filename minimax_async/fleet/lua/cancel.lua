-- CANCEL: a waiter gave up (cancelled, or its process is closing). A grant that raced it is
-- given back by the caller when the grant's message reaches it.
-- ARGV: proc, token, account ('' = any), member ('' for a clone-slot waiter), name
local token, a, member, name = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if member == '' then
  redis.call('ZREM', key('cwait', a), token)
  redis.call('HDEL', key('pend', a), token)
elseif a == '' then
  redis.call('ZREM', P .. ':wait:any', member)
else
  redis.call('ZREM', key('wait', a), member)
  if name ~= '' and redis.call('HGET', key('names', a), name) == token
     and not redis.call('ZSCORE', key('adm', a), token) then
    redis.call('HDEL', key('names', a), name)
  end
end
if a ~= '' then grant(a) end
return reply('K')
