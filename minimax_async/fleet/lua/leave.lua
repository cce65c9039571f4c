-- LEAVE: the process closes; its lease ends now, so its holds that are not on the wire go
-- at once (those on the wire keep their in-flight hold). ARGV: proc
redis.call('DEL', P .. ':alive:' .. ME)
redis.call('DEL', P .. ':rot:' .. ME)
redis.call('DEL', P .. ':wake:' .. ME)
return reply('K')
