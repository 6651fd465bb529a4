-- Moves retries whose time has come onto their queue (or their gate's
-- waiting list). ARGV: prefix, now ms, limit. Returns how many moved.
local due = redis.call('ZRANGEBYSCORE', key('retries'), '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, item in ipairs(due) do
  redis.call('ZREM', key('retries'), item)
  local band, config, exec, gates, run = item_parts(item)
  admit(band, config, exec, gates, run, nil)
end
return #due
