-- Moves retries whose time has come onto their queue (or their gate's
-- waiting list), and lets through the runs waiting for a rate whose
-- window has moved on. ARGV: prefix, now ms, limit. Returns how many
-- retries moved.
local due = redis.call('ZRANGEBYSCORE', key('retries'), '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, item in ipairs(due) do
  redis.call('ZREM', key('retries'), item)
  local lane, config, exec, gates, run = item_parts(item)
  admit(lane, config, exec, gates, run, nil)
end
for _, gate in ipairs(redis.call('SMEMBERS', key('rate_gates'))) do
  pump(gate)
  if redis.call('LLEN', key('waiting', gate)) == 0 then redis.call('SREM', key('rate_gates'), gate) end
end
return #due
