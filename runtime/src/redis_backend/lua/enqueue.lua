-- ARGV: prefix, id, queue band, run JSON, event JSON, history cap, ttl.
local id = ARGV[2]
redis.call('XADD', key('queue', ARGV[3]), '*', 'run', ARGV[4])
redis.call('HINCRBY', key('inflight'), id, 1)
push_history(id, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
return 1
