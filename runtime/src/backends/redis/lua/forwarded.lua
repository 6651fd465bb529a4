-- Marks hand-offs as admitted at their home shard (arrive.lua): out of
-- key('outbox'), their place 'o|<home>' becomes 'f|<home>', noted in
-- key('forwarded') by ms. An entry handed off anew since (another number)
-- or gone with its config is left alone.
-- ARGV: prefix, then pairs: execution id, hand-off number.
for i = 2, #ARGV - 1, 2 do
  local exec = ARGV[i]
  local entry = redis.call('HGET', key('outbox'), exec)
  local home, seq = string.match(entry or '', '^([^|]*)|([^|]*)|')
  if seq == ARGV[i + 1] then
    redis.call('HDEL', key('outbox'), exec)
    redis.call('ZREM', key('outbox_at'), exec)
    local config = redis.call('HGET', key('run_config'), exec)
    if config and redis.call('HGET', key('runs', config), exec) == 'o|' .. home then
      redis.call('HSET', key('runs', config), exec, 'f|' .. home)
      redis.call('ZADD', key('forwarded'), now_ms(), exec)
    end
  end
end
return 0
