-- ARGV: prefix, id. Removes every trace of a config's schedule.
local id = ARGV[2]
local prev = redis.call('HGET', key('status'), id)
if prev then
  redis.call('HDEL', key('status'), id)
  redis.call('HINCRBY', key('status_counts'), prev, -1)
end
redis.call('HDEL', key('jobs'), id)
redis.call('HDEL', key('revisions'), id)
redis.call('HDEL', key('changed'), id)
redis.call('ZREM', key('due'), id)
redis.call('HDEL', key('inflight'), id)
redis.call('DEL', key('history', id), key('meta', id))
redis.call('PUBLISH', key('wake'), id)
return 1
