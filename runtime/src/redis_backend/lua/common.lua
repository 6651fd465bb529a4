-- Shared by every taskbox script; ARGV[1] is the key prefix (e.g. "taskbox:").
-- Keys are built here from that prefix, so taskbox needs a standalone Redis
-- (not Redis Cluster). CONTRACT (history cap and TTL, metadata keys, the
-- events a script writes by itself) is defined above this by the Rust side,
-- from schedule::backend, so both backends share one definition.
local P = ARGV[1]
local function key(...)
  return P .. table.concat({...}, ':')
end
local META = CONTRACT.meta

-- Sets a config's status and keeps the per-status counts in step.
local function set_status(id, to)
  local prev = redis.call('HGET', key('status'), id)
  if prev == to then return prev end
  redis.call('HSET', key('status'), id, to)
  if prev then redis.call('HINCRBY', key('status_counts'), prev, -1) end
  redis.call('HINCRBY', key('status_counts'), to, 1)
  return prev
end

-- Prepends a history event (JSON), keeping the newest HISTORY_CAP, for HISTORY_TTL.
local function push_history(id, event)
  local k = key('history', id)
  redis.call('LPUSH', k, event)
  redis.call('LTRIM', k, 0, CONTRACT.history_cap - 1)
  redis.call('EXPIRE', k, CONTRACT.history_ttl_seconds)
end

-- One of CONTRACT.events ({event, message, status}) as a history event at `at`.
local function event_json(at, kind)
  return cjson.encode({at = at, event = kind[1], message = kind[2], status = kind[3]})
end
