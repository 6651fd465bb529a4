-- Logs the starts of runs a worker just took (start_run in common.lua):
-- a rate counts each once, whoever takes it again after a crash.
-- ARGV: prefix, then the owner (config or workflow run) and execution id
-- of each run, in pairs. Returns how many pairs it read.
for i = 2, #ARGV - 1, 2 do
  start_run(ARGV[i], ARGV[i + 1])
end
return (#ARGV - 1) / 2
