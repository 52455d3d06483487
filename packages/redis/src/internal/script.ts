/**
 * The token-bucket Lua script of the Redis store: one script, one round trip
 * per decision, N buckets decided all-or-nothing on the Redis server's clock.
 *
 * It is the GCRA form of the token bucket core's memory store uses (see
 * `RateLimiterStore` in core): one number per key, `tat`, the time at which the
 * bucket is full again, so the two stores make the same decisions.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * KEYS[1..n]  one string per bucket: its `tat`, in milliseconds since
 *             EPOCH (fractional). Absent = a full bucket.
 * ARGV[1]     "c" consume, "p" peek (decide, write nothing), "r" refund.
 * ARGV[2]     TTL margin in ms added to every key's expiry.
 * c / p:  ARGV[3] cost, ARGV[4] maxWaitMillis, then per bucket
 *         ARGV[3+2i] tokensPerSecond, ARGV[4+2i] burstSize (i = 1..n).
 * r:      per bucket ARGV[1+2i] tat before, ARGV[2+2i] tat after the charge.
 *
 * Reply of c / p: { allowed (0|1), waitMillis, binding (1-based bucket
 * index), remaining, resetAfterMillis, retryAfterMillis } followed, when a
 * consume made a reservation (waitMillis > 0), by each bucket's tat before
 * and after the charge as strings (Redis truncates Lua numbers in replies to
 * integers; strings carry every bit). Reply of r: 1.
 *
 * Why it is shaped like this:
 * - TIME is the server's clock: a fleet of instances with skewed clocks shares
 *   one timeline. A clock going backwards (failover to a replica with another
 *   clock) only makes the stored tats look further away: stricter, never
 *   laxer.
 * - Times are relative to EPOCH (2023-11-14): epoch milliseconds (~1.8e12)
 *   would leave ~0.2 µs of double precision; relative ones leave ~15 ns.
 * - Nothing is written on a rejection (all-or-nothing, charges from neither
 *   bucket), nor on a peek.
 * - Each written key expires at its tat (+ margin): an absent key reads as a
 *   full bucket, which it is by then, so idle keys vanish without changing
 *   any decision.
 * - Numbers are written with %.17g: Lua's tostring keeps 14 digits, which
 *   would drift tats on every write and break the exact-match refund.
 */
export const sourceMulti = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local EPOCH = 1700000000
local EPS = 1e-4
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) * 1000 + tonumber(t[2]) / 1000
local op = ARGV[1]
local margin = tonumber(ARGV[2])
local n = #KEYS

local function ceilms(x)
  if x <= EPS then return 0 end
  return math.ceil(x - EPS)
end

local function whole(debt, interval, burst)
  if debt <= 0 then return burst end
  local r = math.floor(burst - debt / interval + 1e-9)
  if r < 0 then return 0 end
  return r
end

local function store(key, tat)
  if tat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now) + margin)
  end
end

if op == 'r' then
  for i = 1, n do
    local before = tonumber(ARGV[1 + 2 * i])
    local after = tonumber(ARGV[2 + 2 * i])
    local cur = tonumber(redis.call('GET', KEYS[i]))
    -- Only the last reservation of a bucket can be undone: tokens behind a
    -- later reservation are already promised to it.
    if cur ~= nil and math.abs(cur - after) <= EPS then store(KEYS[i], before) end
  end
  return 1
end

local cost = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local intervals, bursts, tats = {}, {}, {}
local actAt, worst = now, 1
for i = 1, n do
  local interval = 1000 / tonumber(ARGV[3 + 2 * i])
  local burst = tonumber(ARGV[4 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  intervals[i], bursts[i], tats[i] = interval, burst, tat
  local allowAt = tat + (cost - burst) * interval
  if allowAt > actAt then
    actAt = allowAt
    worst = i
  end
end

local wait = actAt - now
if wait > maxWait + EPS and wait > EPS then
  local debt = tats[worst] - now
  return { 0, 0, worst, whole(debt, intervals[worst], bursts[worst]), ceilms(debt), ceilms(wait) }
end
if wait <= EPS then actAt = now end
local waitMillis = ceilms(actAt - now)
local commit = op == 'c' and cost > 0
local binding, bindingRemaining, bindingTat = 1, math.huge, now
local reply = { 1, waitMillis, 1, 0, 0, 0 }
for i = 1, n do
  local before = tats[i]
  local base = before
  if actAt > base then base = actAt end
  local tat = base + cost * intervals[i]
  if commit then store(KEYS[i], tat) end
  if commit and waitMillis > 0 then
    reply[#reply + 1] = string.format('%.17g', before)
    reply[#reply + 1] = string.format('%.17g', tat)
  end
  local r = whole(tat - now, intervals[i], bursts[i])
  if r < bindingRemaining then
    binding, bindingRemaining, bindingTat = i, r, tat
  end
end
reply[3] = binding
reply[4] = bindingRemaining
reply[5] = ceilms(bindingTat - now)
return reply
`

/**
 * The same decision (consume / peek) for exactly one bucket, the common case
 * (a limiter without a global bucket). Same KEYS, ARGV and reply as the
 * general script above with n = 1, and the same arithmetic, written without
 * local functions or tables: those are built anew on every run of a script,
 * which roughly doubled the server time of a one-bucket call.
 */
export const source = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local key = KEYS[1]
local cost = tonumber(ARGV[3])
local interval = 1000 / tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local before = tonumber(redis.call('GET', key))
if before == nil or before < now then before = now end
local allowAt = before + (cost - burst) * interval
local wait = allowAt - now
if wait > tonumber(ARGV[4]) + 1e-4 and wait > 1e-4 then
  local debt = before - now
  local r = burst
  if debt > 0 then
    r = math.floor(burst - debt / interval + 1e-9)
    if r < 0 then r = 0 end
  end
  local reset, retry = 0, 0
  if debt > 1e-4 then reset = math.ceil(debt - 1e-4) end
  if wait > 1e-4 then retry = math.ceil(wait - 1e-4) end
  return { 0, 0, 1, r, reset, retry }
end
local actAt = now
if wait > 1e-4 then actAt = allowAt end
local waitMillis = 0
if actAt - now > 1e-4 then waitMillis = math.ceil(actAt - now - 1e-4) end
local base = before
if actAt > base then base = actAt end
local tat = base + cost * interval
local debt = tat - now
local r = burst
if debt > 0 then
  r = math.floor(burst - debt / interval + 1e-9)
  if r < 0 then r = 0 end
end
local reset = 0
if debt > 1e-4 then reset = math.ceil(debt - 1e-4) end
if ARGV[1] == 'c' and cost > 0 then
  if tat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now) + tonumber(ARGV[2]))
  end
  if waitMillis > 0 then
    return { 1, waitMillis, 1, r, reset, 0, string.format('%.17g', before), string.format('%.17g', tat) }
  end
end
return { 1, waitMillis, 1, r, reset, 0 }
`

/** SHA1 of the one-bucket script, as EVALSHA wants it. @internal */
export const sha1: string = createHash("sha1").update(source).digest("hex")

/** SHA1 of the general script (several buckets, and every refund). @internal */
export const sha1Multi: string = createHash("sha1").update(sourceMulti).digest("hex")
