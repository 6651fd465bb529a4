-- Moves retries whose time has come onto their queue.
-- ARGV: prefix, now ms, limit. Returns how many moved.
local due = redis.call('ZRANGEBYSCORE', key('retries'), '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  local sep = string.find(member, '|', 1, true)
  redis.call('XADD', key('queue', string.sub(member, 1, sep - 1)), '*', 'run', string.sub(member, sep + 1))
  redis.call('ZREM', key('retries'), member)
end
return #due
