-- Acknowledges finished runs (after their records are committed) and, for
-- each, either parks its retry until its time or releases the in-flight mark.
-- ARGV: prefix, consumer group, then per run 6:
--   band, stream entry id, config id, retry band or '', retry run JSON, retry at ms.
local group = ARGV[2]
local n = (#ARGV - 2) / 6
for i = 0, n - 1 do
  local b = 2 + i * 6
  local band, entry, id, retry_band, retry_run, retry_at =
    ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  local stream = key('queue', band)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if retry_band ~= '' then
    redis.call('ZADD', key('retries'), retry_at, retry_band .. '|' .. retry_run)
  elseif id ~= '' then
    local left = redis.call('HINCRBY', key('inflight'), id, -1)
    if left <= 0 then redis.call('HDEL', key('inflight'), id) end
  end
end
return n
