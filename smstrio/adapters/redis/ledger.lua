-- KEYS: a run's `produced` bitmap, its `done` bitmap, a scratch key (deleted before returning).
-- ARGV: how many seqs produced and not done to return at most.
-- Every message counted done is also counted produced (record.lua), so `done` is a subset of
-- `produced` and `produced XOR done` holds exactly the messages produced and not done.
-- Returns {messages produced, messages done, then the first seqs produced and not done, ascending}.
local produced = redis.call('BITCOUNT', KEYS[1])
local done = redis.call('BITCOUNT', KEYS[2])
local reply = {produced, done}
local limit = tonumber(ARGV[1])
if produced > done and limit > 0 then
  redis.call('BITOP', 'XOR', KEYS[3], KEYS[1], KEYS[2])
  local byte = 0
  while #reply - 2 < limit do
    local seq = redis.call('BITPOS', KEYS[3], 1, byte)
    if seq < 0 then break end
    reply[#reply + 1] = seq
    redis.call('SETBIT', KEYS[3], seq, 0)
    byte = math.floor(seq / 8)
  end
  redis.call('DEL', KEYS[3])
end
return reply
