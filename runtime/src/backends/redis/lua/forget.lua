-- ARGV: prefix, id. Removes every trace of a config's schedule, and its
-- runs that no worker holds (queued, waiting for a slot, or parked
-- retries); runs being run finish and settle as usual.
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
redis.call('ZREM', key('resumes'), id)
-- Its own waiting lists first, so slots given back below let none of it through.
for _, gate in ipairs({'c:' .. id, 'rc:' .. id}) do
  local waiting = redis.call('LLEN', key('waiting', gate))
  if waiting > 0 then redis.call('HINCRBY', key('held_back'), kind_of(gate), -waiting) end
  redis.call('DEL', key('waiting', gate))
end
redis.call('SREM', key('rate_gates'), 'rc:' .. id)
local places = redis.call('HGETALL', key('runs', id))
local dropped = 0
for i = 1, #places, 2 do
  local exec, place = places[i], places[i + 1]
  local kind = string.sub(place, 1, 1)
  local drop = true
  if kind == 's' then
    local band, entry = stream_place(place)
    local stream = key('queue', band)
    if #redis.call('XPENDING', stream, 'workers', entry, entry, 1) > 0 then
      drop = false
    else
      redis.call('XDEL', stream, entry)
    end
  elseif kind == 'r' then
    redis.call('ZREM', key('retries'), string.sub(place, 3))
  elseif kind == 'w' then
    local gate, item = string.match(place, '^w|([^|]*)|(.*)$')
    unwait(gate, item)
  end
  if drop then
    forget_run(id, exec)
    dropped = dropped + 1
  end
end
redis.call('DEL', key('history', id), key('meta', id))
redis.call('PUBLISH', key('wake'), id)
return dropped
