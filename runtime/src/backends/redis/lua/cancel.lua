-- Cancels the run of one execution, wherever it is (cancel_run in
-- common.lua). ARGV: prefix, execution id, by.
-- Returns {1, run} marked, {2, run} its worker told, {3, home} handed to
-- the shard `home` (cancel it there), {0} not in flight.
local exec = ARGV[2]
local config = redis.call('HGET', key('run_config'), exec)
if not config then return {0} end
return cancel_run(config, exec, ARGV[3])
