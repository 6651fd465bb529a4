-- Settles due entries, each atomically: only if still due at the expected
-- time and active, enqueue its run (unless it overlaps a run in flight and
-- overlap is forbidden), move it to its next due time or end it.
-- ARGV: prefix, now (RFC 3339), history cap, history ttl, then per entry 9:
--   id, expected due ms, next due ms or '', queue band or '' (no run),
--   run JSON, forbid overlap '0'|'1', event JSON, the status to end in
--   when there is no next due time ('inactive' or 'error'), and the job
--   revision the fire was computed from ('' to not compare).
-- Returns per entry: 1 enqueued, 2 skipped, 0 lost.
local now, cap, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local results = {}
local n = (#ARGV - 4) / 9
for i = 0, n - 1 do
  local b = 4 + i * 9
  local id, due, nxt, band, run, forbid, event, ending, revision =
    ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8],
    ARGV[b + 9]
  local score = redis.call('ZSCORE', key('due'), id)
  local result = 0
  if score and tonumber(score) == tonumber(due) and redis.call('HGET', key('status'), id) == 'active'
    and (revision == '' or redis.call('HGET', key('revisions'), id) == revision) then
    result = 2
    if band ~= '' then
      if forbid == '1' and tonumber(redis.call('HGET', key('inflight'), id) or '0') > 0 then
        event = event_json(now, 'skipped', 'a run is still in flight (concurrency = forbid)', 'active')
        redis.call('HINCRBY', key('meta', id), 'skips', 1)
      else
        redis.call('XADD', key('queue', band), '*', 'run', run)
        redis.call('HINCRBY', key('inflight'), id, 1)
        local meta = key('meta', id)
        redis.call('HINCRBY', meta, 'fires', 1)
        redis.call('HSET', meta, 'last_fired_at', now)
        result = 1
      end
    else
      redis.call('HINCRBY', key('meta', id), 'misfires', 1)
    end
    push_history(id, event, cap, ttl)
    if nxt ~= '' then
      redis.call('ZADD', key('due'), nxt, id)
    else
      redis.call('ZREM', key('due'), id)
      set_status(id, ending)
      -- The end of the schedule is not a change that cancels the run just
      -- fired ahead of its time (see still_current).
      local changed = tonumber(redis.call('HGET', key('changed'), id) or '0')
      if changed < tonumber(due) then redis.call('HSET', key('changed'), id, due) end
      if ending == 'inactive' then
        push_history(id, event_json(now, 'completed', 'the schedule has no more fire times; now inactive', 'inactive'), cap, ttl)
      end
    end
  end
  results[#results + 1] = result
end
return results
