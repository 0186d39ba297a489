-- The fleet limit: GCRA on the server's clock, the arithmetic of smstrio/core/ratelimit.py's reserve().
-- KEYS: the queue's fleet-limit key (its theoretical arrival time, integer µs).
-- ARGV: slots wanted, interval µs, tolerance µs, horizon µs.
-- Grants the next slots in order, only those due within the horizon but at least one.
-- Returns {slots granted, slot 0's theoretical time less the tolerance, in µs from now (negative: due)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local want, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local tolerance, horizon = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local start = math.max(tat, now)
local first = start - tolerance - now
local count = math.max(1, math.min(want, math.floor((horizon - first) / interval) + 1))
local after = start + count * interval
-- Once `after` has passed, a missing key says the same: let it expire then.
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.floor((after - now) / 1000) + 1)
return {count, first}
