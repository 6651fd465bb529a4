-- Lets runs that were handed to their home shard, and have left it
-- (settled there, or found gone), leave this shard's runs in flight.
-- ARGV: prefix, then pairs: owner (config or workflow run), execution id.
-- Returns how many it released.
local released = 0
for i = 2, #ARGV - 1, 2 do
  local place = redis.call('HGET', key('runs', ARGV[i]), ARGV[i + 1])
  local kind = place and string.sub(place, 1, 1)
  if kind == 'o' or kind == 'f' then
    forget_run(ARGV[i], ARGV[i + 1])
    released = released + 1
  end
end
return released
