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

-- Runs in flight. A run's place is kept in the hash key('runs', config)
-- (execution id -> place), and key('run_config') maps the execution id to
-- its config, so a run can be found to cancel it. A place is one of
--   's|<band>|<stream entry>|<gates>'  on its stream (waiting or held)
--   'r|<item>'                         a retry parked in key('retries')
--   'w|<gate>|<item>'                  waiting for a slot in key('waiting', gate)
-- where an item is '<band>|<config>|<execution>|<gates>|<run JSON>' and
-- gates is '' (no limit) or '<config limit>,<type limit>,<task type>'
-- (either limit may be empty). Slots taken are counted in key('slots', gate)
-- for the gates 'c:<config>' and 't:<task type>'.

local function item_parts(item)
  local a = string.find(item, '|', 1, true)
  local b = string.find(item, '|', a + 1, true)
  local c = string.find(item, '|', b + 1, true)
  local d = string.find(item, '|', c + 1, true)
  return string.sub(item, 1, a - 1), string.sub(item, a + 1, b - 1), string.sub(item, b + 1, c - 1),
    string.sub(item, c + 1, d - 1), string.sub(item, d + 1)
end

local function gate_parts(gates)
  if gates == '' then return nil, nil, nil end
  local cl, tl, tt = string.match(gates, '^(%d*),(%d*),(.*)$')
  return tonumber(cl), tonumber(tl), tt
end

local function slots(gate)
  return tonumber(redis.call('GET', key('slots', gate)) or '0')
end

-- Is `gate` unable to take a run now (full, or others wait before it)?
local function blocked(gate, limit, from)
  if not limit then return false end
  if slots(gate) >= limit then return true end
  return gate ~= from and redis.call('LLEN', key('waiting', gate)) > 0
end

-- Puts a run on its stream, or in the waiting list of its first gate that
-- cannot take it (`from`: the gate it is leaving, whose turn it has). 
-- Returns 1 on the stream, 0 waiting.
local function admit(band, config, exec, gates, run, from)
  redis.call('HSET', key('run_config'), exec, config)
  if gates == '' then
    -- Nothing limits it: straight onto its stream.
    local entry = redis.call('XADD', key('queue', band), '*', 'run', run)
    redis.call('HSET', key('runs', config), exec, 's|' .. band .. '|' .. entry .. '|')
    return 1
  end
  local cl, tl, tt = gate_parts(gates)
  local wait = nil
  if blocked('c:' .. config, cl, from) then wait = 'c:' .. config
  elseif blocked('t:' .. (tt or ''), tl, from) then wait = 't:' .. tt end
  if wait then
    local item = band .. '|' .. config .. '|' .. exec .. '|' .. gates .. '|' .. run
    redis.call('RPUSH', key('waiting', wait), item)
    redis.call('HSET', key('runs', config), exec, 'w|' .. wait .. '|' .. item)
    return 0
  end
  if cl then redis.call('INCR', key('slots', 'c:' .. config)) end
  if tl then redis.call('INCR', key('slots', 't:' .. tt)) end
  local entry = redis.call('XADD', key('queue', band), '*', 'run', run)
  redis.call('HSET', key('runs', config), exec, 's|' .. band .. '|' .. entry .. '|' .. gates)
  return 1
end

-- Lets waiting runs through `gate` while it has room, oldest first.
local function pump(gate)
  while true do
    local head = redis.call('LINDEX', key('waiting', gate), 0)
    if not head then return end
    local band, config, exec, gates, run = item_parts(head)
    local cl, tl = gate_parts(gates)
    local limit = tl
    if string.sub(gate, 1, 2) == 'c:' then limit = cl end
    if limit and slots(gate) >= limit then return end
    redis.call('LPOP', key('waiting', gate))
    admit(band, config, exec, gates, run, gate)
  end
end

-- Gives back the slots a run on its stream took.
local function free_slots(config, gates)
  local cl, tl, tt = gate_parts(gates)
  if cl then redis.call('DECR', key('slots', 'c:' .. config)); pump('c:' .. config) end
  if tl then redis.call('DECR', key('slots', 't:' .. tt)); pump('t:' .. tt) end
end

-- The parts of a place 's|band|entry|gates'.
local function stream_place(place)
  local band, entry, gates = string.match(place, '^s|([^|]*)|([^|]*)|(.*)$')
  return band, entry, gates
end

-- A run leaves the bookkeeping (settled, or gone with its config).
local function forget_run(config, exec)
  local place = redis.call('HGET', key('runs', config), exec)
  redis.call('HDEL', key('runs', config), exec)
  redis.call('HDEL', key('run_config'), exec)
  redis.call('HDEL', key('cancels'), exec)
  if place and string.sub(place, 1, 1) == 's' then
    local _, _, gates = stream_place(place)
    free_slots(config, gates)
  end
end

-- Cancels one run in flight, by `by`. A run not yet handed to a worker is
-- put back on its stream as a marker (no slots; a worker records it as
-- cancelled without running it); a held one is marked in key('cancels')
-- and its worker told on the channel key('cancel').
-- Returns {1, run} marked, {2, run} signalled, {0} not in flight.
local function cancel_run(config, exec, by)
  local place = redis.call('HGET', key('runs', config), exec)
  if not place then return {0} end
  local kind = string.sub(place, 1, 1)
  local band, run
  if kind == 's' then
    local entry, gates
    band, entry, gates = stream_place(place)
    local stream = key('queue', band)
    local found = redis.call('XRANGE', stream, entry, entry)
    if #found == 0 then return {0} end
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'run' then run = fields[i + 1] end
      if fields[i] == 'cancelled' then return {1, run} end
    end
    local held = redis.call('XPENDING', stream, 'workers', entry, entry, 1)
    if #held > 0 then
      redis.call('HSET', key('cancels'), exec, by)
      redis.call('PUBLISH', key('cancel'), exec .. '|' .. by)
      return {2, run}
    end
    redis.call('XDEL', stream, entry)
    free_slots(config, gates)
  elseif kind == 'r' then
    local item = string.sub(place, 3)
    redis.call('ZREM', key('retries'), item)
    local _
    band, _, _, _, run = item_parts(item)
  else
    local gate, item = string.match(place, '^w|([^|]*)|(.*)$')
    redis.call('LREM', key('waiting', gate), 1, item)
    local _
    band, _, _, _, run = item_parts(item)
  end
  local entry = redis.call('XADD', key('queue', band), '*', 'run', run, 'cancelled', by)
  redis.call('HSET', key('runs', config), exec, 's|' .. band .. '|' .. entry .. '|')
  return {1, run}
end
