-- Acknowledges finished runs (after their records are committed) and, for
-- each, either parks its retry until its time (giving back its slots) or
-- lets it leave the bookkeeping of runs in flight.
-- ARGV: prefix, consumer group, then one JSON object per run (times in ms, as strings):
--   {band (the lane, see common.lua), entry (stream entry id), id (config), exec (execution id),
--    retry = {item (see common.lua), at_ms} or absent}
local group = ARGV[2]
for i = 3, #ARGV do
  local a = cjson.decode(ARGV[i])
  local stream = key('queue', a.band)
  redis.call('XACK', stream, group, a.entry)
  redis.call('XDEL', stream, a.entry)
  if a.id ~= '' then
    if a.retry then
      local place = redis.call('HGET', key('runs', a.id), a.exec)
      redis.call('HDEL', key('cancels'), a.exec)
      redis.call('ZADD', key('retries'), a.retry.at_ms, a.retry.item)
      redis.call('HSET', key('runs', a.id), a.exec, 'r|' .. a.retry.item)
      redis.call('HSET', key('run_config'), a.exec, a.id)
      if place and string.sub(place, 1, 1) == 's' then
        local _, _, gates = stream_place(place)
        free_slots(a.id, a.exec, gates)
      end
    else
      forget_run(a.id, a.exec)
    end
  end
end
return #ARGV - 2
