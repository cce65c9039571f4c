-- FINISH: the ticket ends. ARGV: proc, token, account, voice_id, name, lease ('1'),
-- unknown ('1': the clone may have happened; its intent stays for whoever runs the name next),
-- created ('1': a voice was made; without its id it counts as a voice of unknown id until
-- the next recount, so that a resend never overfills the account)
local token, a, voice_id, name = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease, unknown, created = ARGV[6] == '1', ARGV[7] == '1', ARGV[8] == '1'
redis.call('ZREM', key('slots', a), token)
redis.call('ZREM', key('adm', a), token)
redis.call('ZREM', key('cwait', a), token)
redis.call('HDEL', key('pend', a), token)
if name ~= '' then
  if redis.call('HGET', key('names', a), name) == token then
    redis.call('HDEL', key('names', a), name)
  end
  local dk = a .. '|' .. name
  local d = redis.call('HGET', P .. ':doubt', dk)
  if d and token_of(d) == token then
    if unknown then
      redis.call('HSET', P .. ':doubt', dk, '-|' .. string.sub(d, #token + 2))
    else
      redis.call('HDEL', P .. ':doubt', dk)
    end
  end
end
if voice_id ~= '' then
  redis.call('ZADD', key('voices', a), NOW, voice_id)
  touch(key('voices', a))
  redis.call('ZADD', key('owned', a), NOW, voice_id)
  touch(key('owned', a))
  if lease then
    redis.call('ZADD', key('leased', a), NOW, ME .. '|' .. voice_id)
    touch(key('leased', a))
  end
end
if created and voice_id == '' then
  redis.call('ZADD', key('voices', a), NOW, '?' .. token)
  touch(key('voices', a))
  redis.call('HSET', key('acct', a), 'known', '0')
end
if unknown then redis.call('HSET', key('acct', a), 'known', '0') end
grant(a)
return reply('K')
