-- Acknowledges finished runs (after their records are committed) and, for
-- each, either parks its retry until its time or releases the in-flight mark.
-- ARGV: prefix, consumer group, then one JSON object per run (times in ms, as strings):
--   {band, entry (stream entry id), id (config), retry = {band, run (JSON text), at_ms} or absent}
local group = ARGV[2]
for i = 3, #ARGV do
  local a = cjson.decode(ARGV[i])
  local stream = key('queue', a.band)
  redis.call('XACK', stream, group, a.entry)
  redis.call('XDEL', stream, a.entry)
  if a.retry then
    redis.call('ZADD', key('retries'), a.retry.at_ms, a.retry.band .. '|' .. a.retry.run)
  elseif a.id ~= '' then
    local left = redis.call('HINCRBY', key('inflight'), a.id, -1)
    if left <= 0 then redis.call('HDEL', key('inflight'), a.id) end
  end
end
return #ARGV - 2
