-- Which of the runs ARGV[2..] (execution ids) a worker holds now: 1 or 0
-- each, in order. Read only.
local out = {}
for i = 2, #ARGV do
  local exec = ARGV[i]
  local held = 0
  local owner = redis.call('HGET', key('run_config'), exec)
  local place = owner and redis.call('HGET', key('runs', owner), exec)
  if place and string.sub(place, 1, 1) == 's' then
    local band, entry = stream_place(place)
    if #redis.call('XPENDING', key('queue', band), 'workers', entry, entry, 1) > 0 then held = 1 end
  end
  out[#out + 1] = held
end
return out
