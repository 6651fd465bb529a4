-- Settles due entries, each atomically: only if still due at the expected
-- time, active and holding the expected job revision, enqueue its run
-- (as its overlap policy says, when runs of it are in flight), move it to
-- its next due time or end it.
-- ARGV: prefix, now (RFC 3339), then one JSON object per entry (times in ms, as
-- strings, so Redis stores them digit for digit):
--   {id, due_ms, next_ms (absent: end the schedule in `ending`),
--    band, run (JSON text), exec, gates (absent: no run, a misfire),
--    policy ('allow' | 'forbid' | 'buffer_one' | 'replace'),
--    event (JSON text), ending ('inactive' or 'error'),
--    revision (absent: do not compare),
--    home (the shard to hand the run to, common.lua's hand_off; absent: here)}
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
      local inflight = 0
      if f.policy ~= 'allow' then inflight = redis.call('HLEN', key('runs', id)) end
      local skip = nil
      if f.policy == 'forbid' and inflight > 0 then skip = CONTRACT.events.skipped end
      if f.policy == 'buffer_one' and inflight > 1 then skip = CONTRACT.events.skipped_buffered end
      if skip then
        event = event_json(now, skip)
        redis.call('HINCRBY', key('meta', id), META.skips, 1)
      else
        if f.policy == 'replace' and inflight > 0 then
          local places = redis.call('HKEYS', key('runs', id))
          for _, exec in ipairs(places) do cancel_run(id, exec, 'concurrency=replace', true) end
          push_history(id, event_json(now, CONTRACT.events.replaced))
        end
        if f.home then
          hand_off(f.band, id, f.exec, f.gates, f.run, f.home)
        else
          admit(f.band, id, f.exec, f.gates, f.run, nil)
        end
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
