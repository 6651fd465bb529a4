-- Queues a run now and records why.
-- ARGV: prefix, config id, queue band, run JSON, event JSON. Positional on
-- purpose: four fixed arguments, on the path of every manual run, where
-- wrapping the run in a JSON document cost a fifth of the throughput.
local id = ARGV[2]
redis.call('XADD', key('queue', ARGV[3]), '*', 'run', ARGV[4])
redis.call('HINCRBY', key('inflight'), id, 1)
push_history(id, ARGV[5])
return 1
