-- KEYS: totals, rate counter of this second, service-time and latency histograms, then per
-- run in the batch its `done` and `produced` bitmaps. ARGV: the rate counter's TTL (seconds),
-- then groups of seven: index into KEYS of the run's `done` bitmap (0: the message has no id),
-- seq, outcome, service µs, latency µs, and the histogram bucket keys of those two
-- (`histogram.bucket_key`, computed by the caller).
-- A newly counted message is also counted as produced if it was not yet (the broker delivered
-- it, so it had it). Newly counted sent/failed outcomes enter the histograms, one HINCRBY per
-- distinct bucket; each histogram hash also keeps the exact `min` and `max`.
-- A 'retried' outcome (a failed attempt sent back for another) only adds to `retried`: it
-- sets no bit, so the message's final outcome is still counted once.
-- Returns newly counted {sent, failed, invalid, duplicates, retried}.
local counts = {sent = 0, failed = 0, invalid = 0, duplicates = 0, retried = 0}
local service_us, latency_us, produced = 0, 0, 0
local hists = {{key = KEYS[3], buckets = {}}, {key = KEYS[4], buckets = {}}}
for i = 2, #ARGV, 7 do
  if ARGV[i + 2] == 'retried' then
    counts.retried = counts.retried + 1
  else
    local k = tonumber(ARGV[i])
    local fresh = true
    if k > 0 then
      fresh = redis.call('SETBIT', KEYS[k], ARGV[i + 1], 1) == 0
      if fresh and redis.call('SETBIT', KEYS[k + 1], ARGV[i + 1], 1) == 0 then produced = produced + 1 end
    elseif fresh then
      produced = produced + 1
    end
    if fresh then
      local outcome = ARGV[i + 2]
      counts[outcome] = counts[outcome] + 1
      if outcome ~= 'invalid' then
        service_us = service_us + tonumber(ARGV[i + 3])
        latency_us = latency_us + tonumber(ARGV[i + 4])
        for h = 1, 2 do
          local hist, value, bucket = hists[h], tonumber(ARGV[i + 2 + h]), ARGV[i + 4 + h]
          hist.buckets[bucket] = (hist.buckets[bucket] or 0) + 1
          if not hist.min or value < hist.min then hist.min = value end
          if not hist.max or value > hist.max then hist.max = value end
        end
      end
    else
      counts.duplicates = counts.duplicates + 1
    end
  end
end
local counted = counts.sent + counts.failed + counts.invalid
for _, field in ipairs({'sent', 'failed', 'invalid', 'duplicates', 'retried'}) do
  if counts[field] > 0 then redis.call('HINCRBY', KEYS[1], field, counts[field]) end
end
if service_us > 0 then redis.call('HINCRBY', KEYS[1], 'service_us', service_us) end
if latency_us > 0 then redis.call('HINCRBY', KEYS[1], 'latency_us', latency_us) end
if produced > 0 then redis.call('HINCRBY', KEYS[1], 'produced', produced) end
if counted > 0 then
  redis.call('INCRBY', KEYS[2], counted)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
for _, hist in ipairs(hists) do
  if hist.min then
    for bucket, n in pairs(hist.buckets) do redis.call('HINCRBY', hist.key, bucket, n) end
    local old = redis.call('HMGET', hist.key, 'min', 'max')
    if not old[1] or hist.min < tonumber(old[1]) then redis.call('HSET', hist.key, 'min', hist.min) end
    if not old[2] or hist.max > tonumber(old[2]) then redis.call('HSET', hist.key, 'max', hist.max) end
  end
end
return {counts.sent, counts.failed, counts.invalid, counts.duplicates, counts.retried}
