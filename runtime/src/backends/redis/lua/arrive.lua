-- Admits runs handed over by another shard (common.lua's hand_off) in
-- this, their task type's home shard: each once, however often it is
-- handed (a marker per origin shard and hand-off number, kept a day).
-- ARGV: prefix, then triples: origin shard, hand-off number, item.
-- Returns how many were admitted now.
local admitted = 0
for i = 2, #ARGV - 2, 3 do
  if redis.call('SET', key('arrived', ARGV[i], ARGV[i + 1]), 1, 'NX', 'PX', 86400000) then
    local lane, config, exec, gates, run = item_parts(ARGV[i + 2])
    admit(lane, config, exec, gates, run, nil)
    admitted = admitted + 1
  end
end
return admitted
