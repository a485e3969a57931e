"""The Lua scripts of the Redis store. Each runs atomically on the one node that holds its
tenant's slot (every key carries the `{tenant}` hash tag), in one round trip.

Times are integer milliseconds: Redis's own clock (TIME) unless the caller passes one, so
that every replica measures the sliding windows against the same clock. The scripts are
named `gw:rl:v1:*` with the key prefix: a change of meaning gets a new version, and so new
keys and a new SHA, and two versions can run side by side during a rolling deploy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LuaScript:
    name: str
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


# KEYS[1]   the reservation record; then per check its keys (SUM: sorted set + amounts hash)
# ARGV      now_ms ('' = Redis TIME), window_ms, id, record_ttl_ms, n,
#           then per check: kind, limit, amount, ttl_ms, reset_ms
# returns   {admitted, then per check: used, reset_ms, retry_ms (-1: fits)}
RESERVE = LuaScript("gw:rl:v1:reserve", """-- gw:rl:v1:reserve
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
local id = ARGV[3]
local n = tonumber(ARGV[5])
local cutoff = now - window

-- Drops the entries that left the window; a SUM window also takes their amounts off and
-- returns its sum when that changed (HINCRBY answers it: no HGET needed then).
local function trim(zkey, hkey)
  if not hkey then
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
    return nil
  end
  local expired = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
  if #expired == 0 then return nil end
  local freed = 0
  for s = 1, #expired, 256 do
    local e = math.min(s + 255, #expired)
    local amounts = redis.call('HMGET', hkey, unpack(expired, s, e))
    for i = 1, #amounts do freed = freed + (tonumber(amounts[i]) or 0) end
    redis.call('HDEL', hkey, unpack(expired, s, e))
  end
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
  -- never send -0: Lua prints it as "-0", which Redis refuses as an integer
  if freed ~= 0 then return redis.call('HINCRBY', hkey, '_sum', -freed) end
  return nil
end

-- When enough of the oldest entries will have left the window to free `need`.
local function freed_at(zkey, hkey, need)
  if not hkey then
    local entry = redis.call('ZRANGE', zkey, need - 1, need - 1, 'WITHSCORES')
    return tonumber(entry[2]) + window - now
  end
  local freed, start = 0, 0
  while true do
    local entries = redis.call('ZRANGE', zkey, start, start + 255, 'WITHSCORES')
    if #entries == 0 then return window end
    local ids = {}
    for i = 1, #entries, 2 do ids[#ids + 1] = entries[i] end
    local amounts = redis.call('HMGET', hkey, unpack(ids))
    for i = 1, #ids do
      freed = freed + (tonumber(amounts[i]) or 0)
      if freed >= need then return tonumber(entries[2 * i]) + window - now end
    end
    start = start + 256
  end
end

local checks, admitted = {}, true
local k, a = 2, 6
for i = 1, n do
  local c = {kind = ARGV[a], limit = tonumber(ARGV[a + 1]), amount = tonumber(ARGV[a + 2]),
             ttl = tonumber(ARGV[a + 3]), reset = tonumber(ARGV[a + 4]), key = KEYS[k]}
  a = a + 5
  if c.kind == 's' then c.hkey = KEYS[k + 1]; k = k + 2 else k = k + 1 end
  if c.kind == 'c' then
    c.used = tonumber(redis.call('GET', c.key) or '0')
  else
    local sum = trim(c.key, c.hkey)
    if c.hkey then
      c.used = tonumber(sum or redis.call('HGET', c.hkey, '_sum') or '0')
    else
      c.used = redis.call('ZCARD', c.key)
    end
  end
  c.fits = c.used + c.amount <= c.limit
  if not c.fits then admitted = false end
  checks[i] = c
end

-- The record exists while the reservation is open: found, this is a retried call whose first
-- sending already took its share (admitted, nothing taken again). Admitting creates it (NX:
-- the one command both looks and creates); a rejection only looks.
local replay
if admitted then
  replay = not redis.call('SET', KEYS[1], '1', 'PX', ARGV[4], 'NX')
else
  replay = redis.call('EXISTS', KEYS[1]) == 1
end

if replay then
  admitted = true
elseif admitted then
  for i = 1, n do
    local c = checks[i]
    if c.kind == 'c' then
      -- The period's counter expires at the period's end plus a grace, the same instant
      -- whenever it is set: set once, when this increment created it.
      if redis.call('INCRBY', c.key, c.amount) == c.amount then redis.call('PEXPIRE', c.key, c.ttl) end
    else
      redis.call('ZADD', c.key, now, id)
      redis.call('PEXPIRE', c.key, window)
      if c.hkey then
        -- the sum was read above, in this same atomic script: set with the entry, no HINCRBY
        redis.call('HSET', c.hkey, id, c.amount, '_sum', string.format('%d', c.used + c.amount))
        redis.call('PEXPIRE', c.hkey, window)
      end
    end
    c.used = c.used + c.amount
  end
end

local out = {admitted and 1 or 0}
for i = 1, n do
  local c = checks[i]
  local reset, retry = c.reset, -1
  if c.kind ~= 'c' then
    local first = redis.call('ZRANGE', c.key, 0, 0, 'WITHSCORES')
    if #first > 0 then reset = tonumber(first[2]) + window - now else reset = window end
  end
  if not admitted and not c.fits then
    if c.kind == 'c' then
      retry = c.reset
    elseif c.amount > c.limit then
      retry = window
    else
      retry = freed_at(c.key, c.hkey, c.used + c.amount - c.limit)
    end
  end
  out[#out + 1] = c.used
  out[#out + 1] = reset
  out[#out + 1] = retry
end
return out
""")

# KEYS[1]   the reservation record; then per adjustment its keys (SUM: sorted set + amounts hash)
# ARGV      id, n, then per adjustment: kind, delta
# returns   1 when applied, 0 when the reservation was settled before (or forgotten)
SETTLE = LuaScript("gw:rl:v1:settle", """-- gw:rl:v1:settle
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local id = ARGV[1]
local k, a = 2, 3
for i = 1, tonumber(ARGV[2]) do
  local kind, delta = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  if kind == 's' then
    local hkey = KEYS[k + 1]
    k = k + 2
    if redis.call('HEXISTS', hkey, id) == 1 then     -- still inside the window
      redis.call('HINCRBY', hkey, id, delta)
      redis.call('HINCRBY', hkey, '_sum', delta)
    end
  else
    if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('INCRBY', KEYS[k], delta) end
    k = k + 1
  end
end
return 1
""")
