-- One write to a key-value bucket, atomic against every other client.
-- KEYS[1]: the bucket's hash (key -> value); KEYS[2]: its sorted set of keys
-- (all scored 0, so ordered by bytes, for paging).
-- ARGV[1]: op (set | incr | cas | del); ARGV[2]: key; ARGV[3]: max keys;
-- set: ARGV[4] value; incr: ARGV[4] delta;
-- cas: ARGV[4] '1' if a value is expected ('0': absent), ARGV[5] expected,
-- ARGV[6] new value.
-- Returns {1, value-or-nothing} done, {0} cas mismatch, {-1, keys} bucket full.
local hash, keys, op, key = KEYS[1], KEYS[2], ARGV[1], ARGV[2]

if op == 'del' then
    local gone = redis.call('HDEL', hash, key)
    redis.call('ZREM', keys, key)
    return {1, gone}
end

local current = redis.call('HGET', hash, key)
if op == 'cas' then
    if ARGV[4] == '1' then
        if current ~= ARGV[5] then return {0} end
    elseif current then
        return {0}
    end
end
if not current then
    local held = redis.call('HLEN', hash)
    if held >= tonumber(ARGV[3]) then return {-1, held} end
end
if op == 'incr' then
    redis.call('HINCRBY', hash, key, ARGV[4])
    redis.call('ZADD', keys, 0, key)
    return {1, redis.call('HGET', hash, key)}
end
local value = ARGV[4]
if op == 'cas' then value = ARGV[6] end
redis.call('HSET', hash, key, value)
redis.call('ZADD', keys, 0, key)
return {1}
