-- Moves retries whose time has come onto their queue (or their gate's
-- waiting list), and lets through the runs waiting for a rate whose
-- window has moved on. ARGV: prefix, now ms, limit, and the ms before
-- which a hand-off still in key('outbox'), and a run forwarded to its home
-- shard, are looked after (handoff.rs). Returns {how many retries moved,
-- hand-offs left in the outbox, cancels to pass on, forwarded runs to
-- check}.
local due = redis.call('ZRANGEBYSCORE', key('retries'), '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, item in ipairs(due) do
  redis.call('ZREM', key('retries'), item)
  local lane, config, exec, gates, run = item_parts(item)
  admit(lane, config, exec, gates, run, nil)
end
for _, gate in ipairs(redis.call('SMEMBERS', key('rate_gates'))) do
  pump(gate)
  if redis.call('LLEN', key('waiting', gate)) == 0 then redis.call('SREM', key('rate_gates'), gate) end
end
return {#due, redis.call('ZCOUNT', key('outbox_at'), '-inf', ARGV[4]),
  redis.call('LLEN', key('cancel_out')), redis.call('ZCOUNT', key('forwarded'), '-inf', ARGV[5])}
