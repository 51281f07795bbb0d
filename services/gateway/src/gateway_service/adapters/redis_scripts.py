"""The Lua scripts the gateway runs in Redis: each one checks and changes several keys
atomically, so every gateway replica sees all of an order's flash-sale lines taken or none.

The rate limits (gateway_service.service.limits), the member's allowance
(gateway_service.service.flash_sale) and the sale's unit count
(gateway_service.service.flash_stock) run them through redis-py's `register_script`: by
their SHA (EVALSHA), the body sent again only when Redis has forgotten it.
"""

from __future__ import annotations

# All keys or none: checks every SKU's running total first, then adds to each. Returns the
# index (1-based) of the first SKU over its limit, or 0 when the claim was taken.
CLAIM_SCRIPT = """
for i, key in ipairs(KEYS) do
  local quantity = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  if (tonumber(redis.call('GET', key) or '0') + quantity) > limit then
    return i
  end
end
local window = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, ARGV[2 * i - 1])
  redis.call('EXPIRE', key, window)
end
return 0
"""
# Checks every SKU's count, then takes from each, or nothing. Returns 0 when taken, i when the
# i-th SKU has too few units left, -i when its count is not loaded.
TAKE_SCRIPT = """
for i, key in ipairs(KEYS) do
  local left = redis.call('GET', key)
  if not left then return -i end
  if tonumber(left) < tonumber(ARGV[i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('DECRBY', key, ARGV[i])
end
return 0
"""
# Gives units back only to counts that still exist: an expired count is read afresh anyway.
GIVE_BACK_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, ARGV[i])
  end
end
return 0
"""
# The rate limits' counters of this window, each counted once (its expiry set when the window's
# first request makes it), then the values of the keys after the first ARGV[1] (false, a nil
# reply, where one does not exist). Returns the counts, then those values.
COUNT_SCRIPT = """
local counters = tonumber(ARGV[1])
local replies = {}
for i = 1, counters do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  replies[i] = n
end
for i = counters + 1, #KEYS do replies[i] = redis.call('GET', KEYS[i]) end
return replies
"""
