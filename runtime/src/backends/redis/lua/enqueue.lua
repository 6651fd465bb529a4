-- Queues a run now (or in its gate's waiting list) and records why; with
-- an idempotency key, only the first request of that key does.
-- ARGV: prefix, config id, queue band, run JSON, event JSON ('' for none),
-- execution id,
-- gates (see common.lua), idempotency key ('' for none), fingerprint,
-- how long the key holds (ms), the shard to hand the run to ('' for
-- none, common.lua's hand_off). Positional on purpose: fixed arguments, on
-- the path of every manual run, where wrapping the run in a JSON document
-- cost a fifth of the throughput.
-- Returns {'new'}, {'again', execution id} or {'conflict'}.
local id = ARGV[2]
if ARGV[8] ~= '' then
  local once = key('once', id, ARGV[8])
  local seen = redis.call('HMGET', once, 'fp', 'exec')
  if seen[1] then
    if seen[1] == ARGV[9] then return {'again', seen[2]} end
    return {'conflict'}
  end
  redis.call('HSET', once, 'fp', ARGV[9], 'exec', ARGV[6])
  redis.call('PEXPIRE', once, tonumber(ARGV[10]))
end
if ARGV[11] ~= '' then
  hand_off(ARGV[3], id, ARGV[6], ARGV[7], ARGV[4], ARGV[11])
else
  admit(ARGV[3], id, ARGV[6], ARGV[7], ARGV[4], nil)
end
if ARGV[5] ~= '' then push_history(id, ARGV[5]) end
return {'new'}
