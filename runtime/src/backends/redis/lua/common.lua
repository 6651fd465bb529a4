-- Shared by every taskbox script; ARGV[1] is the key prefix (e.g. "taskbox:").
-- Keys are built here from that prefix; on a Redis Cluster it carries a hash
-- tag ("{taskbox}:"), so every key a script touches is in the slot of the
-- KEYS[1] the call is routed by (connection.rs). CONTRACT (history cap and TTL, metadata keys, the
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
--   's|<lane>|<stream entry>|<gates>'  on its stream (waiting or held)
--   'r|<item>'                         a retry parked in key('retries')
--   'w|<gate>|<item>'                  waiting for its turn in key('waiting', gate)
-- where an item is '<lane>|<config>|<execution>|<gates>|<run JSON>', a lane
-- is '<band>' (the default worker group) or '<band>:<group>', naming the
-- stream key('queue', lane), and gates is '' (nothing holds it back) or
-- '<config limit>,<type limit>,<config rate>,<type rate>,<task type>'
-- (any may be empty; a rate is '<max>/<window ms>').
--
-- Gates: 'c:<config>' and 't:<task type>' count slots taken in
-- key('slots', gate) (a limit of runs in flight); 'rc:<config>' and
-- 'rt:<task type>' are rates: key('rate', gate) logs each start (a sorted
-- set by time, trimmed to the window) and key('rate_pending', gate) counts
-- runs let through but not yet started, so a window never holds more than
-- max starts however long a run waits for a worker. key('started') marks
-- the runs whose start is logged; key('rate_gates') holds the rates that
-- have runs waiting (promote.lua lets them through as their windows
-- move); key('held_back') counts waiting runs by kind ('s' or 'r').

local function item_parts(item)
  local a = string.find(item, '|', 1, true)
  local b = string.find(item, '|', a + 1, true)
  local c = string.find(item, '|', b + 1, true)
  local d = string.find(item, '|', c + 1, true)
  return string.sub(item, 1, a - 1), string.sub(item, a + 1, b - 1), string.sub(item, b + 1, c - 1),
    string.sub(item, c + 1, d - 1), string.sub(item, d + 1)
end

local function rate_of(text)
  if not text or text == '' then return nil end
  local max, ms = string.match(text, '^(%d+)/(%d+)$')
  return {tonumber(max), tonumber(ms)}
end

-- A run's gates in the order they are checked: {gate, kind, limit}, kind
-- 's' (limit: slots) or 'r' (limit: {max, window ms}).
local function gate_list(config, gates)
  if gates == '' then return {} end
  local cl, tl, cr, tr, tt = string.match(gates, '^(%d*),(%d*),([%d/]*),([%d/]*),(.*)$')
  if not cl then
    -- Queued before rates existed: '<config limit>,<type limit>,<task type>'.
    cl, tl, tt = string.match(gates, '^(%d*),(%d*),(.*)$')
  end
  local list = {}
  if tonumber(cl) then list[#list + 1] = {'c:' .. config, 's', tonumber(cl)} end
  if tonumber(tl) then list[#list + 1] = {'t:' .. tt, 's', tonumber(tl)} end
  if rate_of(cr) then list[#list + 1] = {'rc:' .. config, 'r', rate_of(cr)} end
  if rate_of(tr) then list[#list + 1] = {'rt:' .. tt, 'r', rate_of(tr)} end
  return list
end

local function kind_of(gate)
  if string.sub(gate, 1, 1) == 'r' then return 'r' end
  return 's'
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function slots(gate)
  return tonumber(redis.call('GET', key('slots', gate)) or '0')
end

-- Runs a rate counts now: started within its window, or let through and
-- not started yet.
local function rate_used(gate, rate)
  local log = key('rate', gate)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now_ms() - rate[2])
  return redis.call('ZCARD', log) + tonumber(redis.call('GET', key('rate_pending', gate)) or '0')
end

local function full(gate, kind, limit)
  if kind == 's' then return slots(gate) >= limit end
  return rate_used(gate, limit) >= limit[1]
end

-- Is `gate` unable to take a run now (full, or others wait before it)?
local function blocked(gate, kind, limit, from)
  if full(gate, kind, limit) then return true end
  return gate ~= from and redis.call('LLEN', key('waiting', gate)) > 0
end

-- Puts a run on its stream, or in the waiting list of its first gate that
-- cannot take it (`from`: the gate it is leaving, whose turn it has).
-- Returns 1 on the stream, 0 waiting.
local function admit(lane, config, exec, gates, run, from)
  redis.call('HSET', key('run_config'), exec, config)
  if string.find(lane, ':', 1, true) then redis.call('SADD', key('lanes'), lane) end
  local list = gate_list(config, gates)
  for _, g in ipairs(list) do
    if blocked(g[1], g[2], g[3], from) then
      local item = lane .. '|' .. config .. '|' .. exec .. '|' .. gates .. '|' .. run
      redis.call('RPUSH', key('waiting', g[1]), item)
      redis.call('HINCRBY', key('held_back'), g[2], 1)
      if g[2] == 'r' then redis.call('SADD', key('rate_gates'), g[1]) end
      redis.call('HSET', key('runs', config), exec, 'w|' .. g[1] .. '|' .. item)
      return 0
    end
  end
  for _, g in ipairs(list) do
    if g[2] == 's' then redis.call('INCR', key('slots', g[1]))
    else redis.call('INCR', key('rate_pending', g[1])) end
  end
  local entry = redis.call('XADD', key('queue', lane), '*', 'run', run)
  redis.call('HSET', key('runs', config), exec, 's|' .. lane .. '|' .. entry .. '|' .. gates)
  return 1
end

-- Hands a run on to the shard `home` that holds its task type's limits
-- (shards.rs): kept here in key('outbox') (execution id ->
-- '<home>|<seq>|<item>', and key('outbox_at') by ms) until handoff.rs has
-- admitted it there (arrive.lua, once per seq) and marked it forwarded
-- (forwarded.lua). Its place here, 'o|<home>' and then 'f|<home>', keeps
-- it among its config's runs in flight (overlap policies, cancel); every
-- gate of the run is taken at its home.
local function hand_off(lane, config, exec, gates, run, home)
  redis.call('HSET', key('run_config'), exec, config)
  local seq = redis.call('INCR', key('handoff_seq'))
  local item = lane .. '|' .. config .. '|' .. exec .. '|' .. gates .. '|' .. run
  redis.call('HSET', key('outbox'), exec, home .. '|' .. seq .. '|' .. item)
  redis.call('ZADD', key('outbox_at'), now_ms(), exec)
  redis.call('HSET', key('runs', config), exec, 'o|' .. home)
end

-- Lets waiting runs through `gate` while it has room, oldest first.
local function pump(gate)
  while true do
    local head = redis.call('LINDEX', key('waiting', gate), 0)
    if not head then return end
    local lane, config, exec, gates, run = item_parts(head)
    for _, g in ipairs(gate_list(config, gates)) do
      if g[1] == gate and full(g[1], g[2], g[3]) then return end
    end
    redis.call('LPOP', key('waiting', gate))
    redis.call('HINCRBY', key('held_back'), kind_of(gate), -1)
    admit(lane, config, exec, gates, run, gate)
  end
end

-- Takes `item` out of the waiting list of `gate`.
local function unwait(gate, item)
  local removed = redis.call('LREM', key('waiting', gate), 1, item)
  if removed > 0 then redis.call('HINCRBY', key('held_back'), kind_of(gate), -removed) end
end

-- Gives back what a run on its stream took: its slots, and its place in
-- a rate's window if it never started.
local function free_slots(config, exec, gates)
  local started = redis.call('HDEL', key('started'), exec) == 1
  for _, g in ipairs(gate_list(config, gates)) do
    if g[2] == 's' then
      redis.call('DECR', key('slots', g[1]))
      pump(g[1])
    elseif not started then
      redis.call('DECR', key('rate_pending', g[1]))
      pump(g[1])
    end
  end
end

-- Logs the start of a run a worker took (once, whoever takes it again).
local function start_run(config, exec)
  local place = redis.call('HGET', key('runs', config), exec)
  if not place or string.sub(place, 1, 1) ~= 's' then return end
  if redis.call('HSETNX', key('started'), exec, 1) == 0 then return end
  local gates = string.match(place, '^s|[^|]*|[^|]*|(.*)$')
  local now = now_ms()
  for _, g in ipairs(gate_list(config, gates)) do
    if g[2] == 'r' then
      redis.call('DECR', key('rate_pending', g[1]))
      redis.call('ZADD', key('rate', g[1]), now, exec .. '#' .. redis.call('INCR', key('rate_seq')))
      redis.call('PEXPIRE', key('rate', g[1]), g[3][2])
    end
  end
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
  local kind = place and string.sub(place, 1, 1)
  if kind == 's' then
    local _, _, gates = stream_place(place)
    free_slots(config, exec, gates)
  elseif kind == 'o' or kind == 'f' then
    redis.call('HDEL', key('outbox'), exec)
    redis.call('ZREM', key('outbox_at'), exec)
    redis.call('ZREM', key('forwarded'), exec)
  end
end

-- Cancels one run in flight, by `by`. A run not yet handed to a worker is
-- put back on its stream as a marker (no slots; a worker records it as
-- cancelled without running it); a held one is marked in key('cancels')
-- and its worker told on the channel key('cancel').
-- A run handed to its home shard is cancelled there: {3, home}, and with
-- `later`, queued in key('cancel_out') for handoff.rs to do so.
-- Returns {1, run} marked, {2, run} signalled, {0} not in flight.
local function cancel_run(config, exec, by, later)
  local place = redis.call('HGET', key('runs', config), exec)
  if not place then return {0} end
  local kind = string.sub(place, 1, 1)
  local band, run
  if kind == 'o' or kind == 'f' then
    if later then redis.call('RPUSH', key('cancel_out'), exec .. '|' .. by) end
    return {3, string.sub(place, 3)}
  elseif kind == 's' then
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
    free_slots(config, exec, gates)
  elseif kind == 'r' then
    local item = string.sub(place, 3)
    redis.call('ZREM', key('retries'), item)
    local _
    band, _, _, _, run = item_parts(item)
  else
    local gate, item = string.match(place, '^w|([^|]*)|(.*)$')
    unwait(gate, item)
    local _
    band, _, _, _, run = item_parts(item)
  end
  local entry = redis.call('XADD', key('queue', band), '*', 'run', run, 'cancelled', by)
  redis.call('HSET', key('runs', config), exec, 's|' .. band .. '|' .. entry .. '|')
  return {1, run}
end
