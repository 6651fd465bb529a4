-- Queues a run now (or in its gate's waiting list) and records why.
-- ARGV: prefix, config id, queue band, run JSON, event JSON, execution id,
-- gates (see common.lua). Positional on purpose: fixed arguments, on the
-- path of every manual run, where wrapping the run in a JSON document cost
-- a fifth of the throughput.
local id = ARGV[2]
admit(ARGV[3], id, ARGV[6], ARGV[7], ARGV[4], nil)
push_history(id, ARGV[5])
return 1
