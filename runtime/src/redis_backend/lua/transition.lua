-- ARGV: prefix, id, allowed statuses (space separated), new status or '',
-- entry op (keep|remove|set), job JSON, next due ms or '', event JSON,
-- history cap, history ttl, now ms, job revision.
-- Returns {1, previous status} or {0, current status} when refused.
local id = ARGV[2]
local existing = redis.call('HGET', key('status'), id)
local current = existing or 'inactive'
local allowed = false
for s in string.gmatch(ARGV[3], '%S+') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end

local op = ARGV[5]
if op == 'set' then
  redis.call('HSET', key('jobs'), id, ARGV[6])
  redis.call('HSET', key('revisions'), id, ARGV[12])
  if ARGV[7] ~= '' then
    redis.call('ZADD', key('due'), ARGV[7], id)
  else
    redis.call('ZREM', key('due'), id)
  end
elseif op == 'remove' then
  redis.call('HDEL', key('jobs'), id)
  redis.call('HDEL', key('revisions'), id)
  redis.call('ZREM', key('due'), id)
end

local to = ARGV[4]
if to == '' then to = current end
set_status(id, to)
if to ~= current or not existing then
  redis.call('HSET', key('meta', id), 'status_changed_at', ARGV[11])
end
redis.call('HSET', key('changed'), id, ARGV[11])
push_history(id, ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]))
redis.call('PUBLISH', key('wake'), id)
return {1, current}
