-- LEAVE: the process closes; its lease ends now, so its holds that are not on the wire go
-- at once (those on the wire keep their in-flight hold), swept by the others' heartbeats.
-- ARGV: proc
redis.call('DEL', P .. ':alive:' .. ME)
redis.call('DEL', P .. ':wake:' .. ME)
redis.call('HSET', P .. ':procs', ME, 'left')
for _, a in ipairs(redis.call('SMEMBERS', P .. ':rot:' .. ME)) do
  evict(a)
  grant(a)
end
return reply('K')
