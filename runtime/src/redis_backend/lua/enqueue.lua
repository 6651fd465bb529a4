-- Queues a run now and records why.
-- ARGV: prefix, then one JSON object: {id, band, run (JSON text), event (JSON text)}.
local a = cjson.decode(ARGV[2])
redis.call('XADD', key('queue', a.band), '*', 'run', a.run)
redis.call('HINCRBY', key('inflight'), a.id, 1)
push_history(a.id, a.event)
return 1
