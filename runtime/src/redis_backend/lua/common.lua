-- Shared by every taskbox script; ARGV[1] is the key prefix (e.g. "taskbox:").
-- Keys are built here from that prefix, so taskbox needs a standalone Redis
-- (not Redis Cluster).
local P = ARGV[1]
local function key(...)
  return P .. table.concat({...}, ':')
end

-- Sets a config's status and keeps the per-status counts in step.
local function set_status(id, to)
  local prev = redis.call('HGET', key('status'), id)
  if prev == to then return prev end
  redis.call('HSET', key('status'), id, to)
  if prev then redis.call('HINCRBY', key('status_counts'), prev, -1) end
  redis.call('HINCRBY', key('status_counts'), to, 1)
  return prev
end

-- Prepends a history event (JSON), keeping at most `cap`, for `ttl` seconds.
local function push_history(id, event, cap, ttl)
  local k = key('history', id)
  redis.call('LPUSH', k, event)
  redis.call('LTRIM', k, 0, cap - 1)
  redis.call('EXPIRE', k, ttl)
end

local function event_json(at, kind, message, status)
  return cjson.encode({at = at, event = kind, message = message, status = status})
end
