-- Settles due entries, each atomically: only if still due at the expected
-- time, active and holding the expected job revision, enqueue its run
-- (unless it overlaps a run in flight and overlap is forbidden), move it to
-- its next due time or end it.
-- ARGV: prefix, now (RFC 3339), then one JSON object per entry (times in ms, as
-- strings, so Redis stores them digit for digit):
--   {id, due_ms, next_ms (absent: end the schedule in `ending`),
--    band and run (JSON text) (absent: no run, a misfire), forbid (bool),
--    event (JSON text), ending ('inactive' or 'error'),
--    revision (absent: do not compare)}
-- Returns per entry: 1 enqueued, 2 skipped, 0 lost.
local now = ARGV[2]
local results = {}
for i = 3, #ARGV do
  local f = cjson.decode(ARGV[i])
  local id = f.id
  local score = redis.call('ZSCORE', key('due'), id)
  local result = 0
  if score and tonumber(score) == tonumber(f.due_ms) and redis.call('HGET', key('status'), id) == 'active'
    and (not f.revision or redis.call('HGET', key('revisions'), id) == f.revision) then
    result = 2
    local event = f.event
    if f.run then
      if f.forbid and tonumber(redis.call('HGET', key('inflight'), id) or '0') > 0 then
        event = event_json(now, CONTRACT.events.skipped)
        redis.call('HINCRBY', key('meta', id), META.skips, 1)
      else
        redis.call('XADD', key('queue', f.band), '*', 'run', f.run)
        redis.call('HINCRBY', key('inflight'), id, 1)
        local meta = key('meta', id)
        redis.call('HINCRBY', meta, META.fires, 1)
        redis.call('HSET', meta, META.last_fired_at, now)
        result = 1
      end
    else
      redis.call('HINCRBY', key('meta', id), META.misfires, 1)
    end
    push_history(id, event)
    if f.next_ms then
      redis.call('ZADD', key('due'), f.next_ms, id)
    else
      redis.call('ZREM', key('due'), id)
      set_status(id, f.ending)
      -- The natural end is no change (schedule::ahead): raise the stamp's
      -- changed_at to at least the due time of the run just fired.
      local changed = tonumber(redis.call('HGET', key('changed'), id) or '0')
      if changed < tonumber(f.due_ms) then redis.call('HSET', key('changed'), id, f.due_ms) end
      if f.ending == 'inactive' then
        push_history(id, event_json(now, CONTRACT.events.completed))
      end
    end
  end
  results[#results + 1] = result
end
return results
