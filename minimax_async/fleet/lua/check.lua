-- CHECK: the fallback for lost wake-ups, and what makes timed changes (a pause's end) take
-- effect. Grants every account the caller waits on, then tells it the state of each waiter.
-- ARGV: proc, then triples: stage ('A' admission, 'S' clone slot), account ('' any), member
local seen = {}
local function visit(a)
  if not seen[a] then
    seen[a] = true
    evict(a)
    grant(a)
  end
end
local rotation = redis.call('SMEMBERS', P .. ':rot:' .. ME)
local c = config()
for i = 2, #ARGV, 3 do
  local stage, a, member = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if a ~= '' then visit(a) else for _, r in ipairs(rotation) do visit(r) end end
end
for i = 2, #ARGV, 3 do
  local stage, a, member = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local token = token_of(member)
  if stage == 'S' then
    if redis.call('ZSCORE', key('slots', a), token) then tell(ME, 'S|' .. token .. '|' .. a)
    elseif not redis.call('ZSCORE', key('adm', a), token) then tell(ME, 'L|' .. token)
    elseif not redis.call('ZSCORE', key('cwait', a), token) then tell(ME, 'G|' .. token) end
  elseif a ~= '' then
    if redis.call('ZSCORE', key('adm', a), token) then tell(ME, 'A|' .. token .. '|' .. a)
    elseif not redis.call('ZSCORE', key('wait', a), member) then tell(ME, 'G|' .. token)
    elseif c.max_voices >= 0 and not acct(a).known
           and redis.call('SET', key('counting', a), ME, 'NX', 'PX', 30000) then
      tell(ME, 'C|' .. token .. '|' .. a)
    end
  else
    local found = false
    for _, r in ipairs(rotation) do
      if redis.call('ZSCORE', key('adm', r), token) then
        tell(ME, 'A|' .. token .. '|' .. r)
        found = true
        break
      end
    end
    if not found then
      if not redis.call('ZSCORE', P .. ':wait:any', member) then tell(ME, 'G|' .. token)
      else
        for _, r in ipairs(rotation) do
          if c.max_voices >= 0 and not acct(r).known and acct(r).out_until <= NOW
             and redis.call('SET', key('counting', r), ME, 'NX', 'PX', 30000) then
            tell(ME, 'C|' .. token .. '|' .. r)
          end
        end
      end
    end
  end
end
return reply('K')
