-- GCRA (generic cell rate algorithm) for one key, atomically.
--
-- KEYS[1]  the key's theoretical arrival time (TAT), microseconds since
--          the epoch by the Redis server's clock
-- ARGV[1]  emission interval: microseconds per request (1e6 / rate)
-- ARGV[2]  burst
--
-- Returns {allowed (1 or 0), remaining, retry_after_us, reset_us}.
--
-- The clock is the server's (TIME), so instances whose clocks disagree
-- still share one schedule. Since Redis 5 scripts replicate their writes,
-- not the script, so reading TIME before writing is allowed.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end

local window = interval * burst
local new_tat = tat + interval
local allow_at = new_tat - window

if now < allow_at then
  -- Denied: nothing is written.
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end

local reset = new_tat - now
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.max(1, math.ceil(reset / 1000)))
-- The epsilon absorbs float error: (burst - 1) intervals must count as
-- burst - 1 requests, not burst - 2.
return {1, math.floor((window - reset) / interval + 1e-9), 0, math.ceil(reset)}
