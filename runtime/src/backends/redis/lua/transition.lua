-- One atomic status change (schedule::backend::Transition).
-- ARGV: prefix, then one JSON object (times in ms, as strings):
--   {id, allowed = [statuses], to (absent: keep), op = keep|remove|set,
--    job (JSON text, with set), next_ms (absent: out of the due index),
--    revision (with set), event (JSON text), now_ms,
--    resume_ms (a pause's end; absent: none), expect_resume_ms (absent: do not compare)}
-- Returns {1, previous status} or {0, current status} when refused.
local a = cjson.decode(ARGV[2])
local id = a.id
local existing = redis.call('HGET', key('status'), id)
local current = existing or 'inactive'
local allowed = false
for _, s in ipairs(a.allowed) do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
-- An automatic resume applies only to the pause it was set by.
if a.expect_resume_ms and tonumber(redis.call('ZSCORE', key('resumes'), id)) ~= tonumber(a.expect_resume_ms) then
  return {0, current}
end
if a.resume_ms then
  redis.call('ZADD', key('resumes'), a.resume_ms, id)
else
  redis.call('ZREM', key('resumes'), id)
end

if a.op == 'set' then
  redis.call('HSET', key('jobs'), id, a.job)
  redis.call('HSET', key('revisions'), id, a.revision)
  if a.next_ms then
    redis.call('ZADD', key('due'), a.next_ms, id)
  else
    redis.call('ZREM', key('due'), id)
  end
elseif a.op == 'remove' then
  redis.call('HDEL', key('jobs'), id)
  redis.call('HDEL', key('revisions'), id)
  redis.call('ZREM', key('due'), id)
end

local to = a.to or current
set_status(id, to)
if to ~= current or not existing then
  redis.call('HSET', key('meta', id), META.status_changed_at, a.now_ms)
end
-- The fired-ahead stamp's changed_at (schedule::ahead).
redis.call('HSET', key('changed'), id, a.now_ms)
push_history(id, a.event)
redis.call('PUBLISH', key('wake'), id)
return {1, current}
