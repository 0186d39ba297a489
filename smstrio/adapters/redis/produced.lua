-- KEYS: totals, the run's `produced` bitmap. ARGV: confirmed seqs. Returns how many were new.
local new = 0
for i = 1, #ARGV do
  if redis.call('SETBIT', KEYS[2], ARGV[i], 1) == 0 then new = new + 1 end
end
if new > 0 then redis.call('HINCRBY', KEYS[1], 'produced', new) end
return new
