/**
 * The token-bucket Lua scripts of the Redis store: N buckets decided
 * all-or-nothing on the Redis server's clock, in one round trip. Two forms
 * of the same decision: the one-bucket script (the common case, lean) and
 * the batch script (any number of requests of any number of buckets, and
 * refunds: the decisions of many callers in one run, or a single request
 * the one-bucket script does not take).
 *
 * It is the GCRA form of the token bucket core's memory store uses (see
 * `RateLimiterStore` in core): one number per key, `tat`, the time at which the
 * bucket is full again, so the two stores make the same decisions.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/*
 * A request, as the store gives it (the one-bucket script takes it as it is;
 * the batch script in the packed form of `connection.batchArgs`):
 * KEYS[1..n]  one string per bucket: its `tat`, in milliseconds since
 *             EPOCH (fractional), and the key's expiry (see below). Absent =
 *             a full bucket.
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
 * integers; strings carry every bit). Reply of r: { 1 }. The one-bucket and batch
 * scripts answer the commonest case, allowed at once by bucket 1, with the
 * short form { remaining, resetAfterMillis } (the rest is implied: 1, 0, 1,
 * …, 0): a third of the reply to build, send and parse.
 *
 * Needs Redis >= 6.0 (SET … KEEPTTL; scripts replicate their effects, so
 * TIME before a write needs no `redis.replicate_commands`).
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
 * - Each written key expires after its tat: an absent key reads as a full
 *   bucket, which it is by then, so idle keys vanish without changing any
 *   decision. A write sets the expiry to tat + 2 × margin only when the
 *   key's expiry (kept in its value) is less than margin / 2 after the new
 *   tat; otherwise it keeps the TTL (SET … KEEPTTL, Redis >= 6.0): updating
 *   a TTL costs more than the write itself, and under steady traffic most
 *   writes need none. A key thus lives until between tat + margin / 2 and
 *   tat + 2 × margin.
 * - A key's value is 16 bytes, the doubles tat and expiresAt
 *   (struct.pack '<dd'): exact (Lua's tostring keeps 14 digits, which would
 *   drift tats on every write and break the exact-match refund) and cheap,
 *   where printing and parsing 17 digits (%.17g, strtod) cost more than the
 *   rest of the decision. 8 bytes are read as a tat alone, anything else as
 *   text (`tonumber`), with an unknown expiry. Reservations in replies are
 *   still %.17g text: Redis truncates Lua numbers in replies.
 */

/**
 * Lua, shared by the two scripts (inlined: no function to build per run):
 * a key's value `stored` (GET's reply, false when absent) read into
 * `storedTat` (nil when absent) and `storedExpiry` (0: unknown).
 */
const readStored = `local storedTat, storedExpiry = nil, 0
if stored then
  local size = #stored
  if size == 16 then storedTat, storedExpiry = struct.unpack('<dd', stored)
  elseif size == 8 then storedTat = struct.unpack('<d', stored)
  else storedTat = tonumber(stored) end
end`

/**
 * Lua, shared by the two scripts: `tat` written to `key`, whose stored
 * expiry is `expiresAt` (with `now` and `margin` in scope): deleted when the
 * bucket is full, the TTL kept while the key outlives the tat by margin / 2,
 * else set to tat + 2 × margin.
 */
const writeTat = `if tat <= now then
  redis.call('DEL', key)
elseif expiresAt >= tat + margin / 2 then
  redis.call('SET', key, struct.pack('<dd', tat, expiresAt), 'KEEPTTL')
else
  local ttl = math.ceil(tat - now) + 2 * margin
  redis.call('SET', key, struct.pack('<dd', tat, now + ttl), 'PX', ttl)
end`

/**
 * The same decision (consume / peek) for exactly one bucket, the common case
 * (a limiter without a global bucket). Same KEYS, ARGV and reply as the
 * request described above with n = 1, and the batch script's arithmetic, written without
 * local functions or tables: those are built anew on every run of a script,
 * which roughly doubled the server time of a one-bucket call. Numeric
 * strings are converted by arithmetic (Lua coerces them) rather than by
 * calls to `tonumber`: ~0.35 µs of ~4 µs per call, measured.
 */
export const source = `
local t = redis.call('TIME')
local now = (t[1] - 1700000000) * 1000 + t[2] / 1000
local key = KEYS[1]
local cost = ARGV[3] + 0
local interval = 1000 / ARGV[5]
local burst = ARGV[6] + 0
local stored = redis.call('GET', key)
${readStored}
local before, expiresAt = storedTat, storedExpiry
if before == nil or before < now then before = now end
local allowAt = before + (cost - burst) * interval
local wait = allowAt - now
if wait > ARGV[4] + 1e-4 and wait > 1e-4 then
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
  local margin = ARGV[2] + 0
  ${writeTat}
  if waitMillis > 0 then
    return { 1, waitMillis, 1, r, reset, 0, string.format('%.17g', before), string.format('%.17g', tat) }
  end
end
if waitMillis == 0 then return { r, reset } end
return { 1, waitMillis, 1, r, reset, 0 }
`

/**
 * Several requests (consumes, peeks, refunds) decided in one run, in order,
 * each exactly as the scripts above would decide it on its own: the requests
 * a store has in flight in one tick (many callers on one connection) cost one
 * script run instead of one each. Every request reads the writes of the ones
 * before it (a key shared by several requests, such as a global bucket, is
 * read once and written once, at the end).
 *
 * KEYS        every request's keys, one request after the other.
 * ARGV[1]     the TTL margin in ms, for every key.
 * ARGV[2]     S, the number of parameter sets that follow: the requests of
 *             one limiter share theirs, so each is sent once per batch.
 *             A set is n (its number of buckets), cost, maxWaitMillis, then
 *             n pairs of tokensPerSecond and burstSize.
 * next        the requests, one token each in one string: "c" or "p"
 *             followed by the 1-based index of its parameter set (consume,
 *             peek), or "r" (refund); one argument for the whole batch rather
 *             than one per request.
 * then        per refund, in order: n, then n pairs of the tat before and
 *             after.
 *
 * Reply: per request, the length of its reply and then its reply as the
 * scripts above give it (a refund's reply is { 1 }).
 *
 * The same clock reading serves every request of the run: they arrived
 * together. Rejections and peeks write nothing; a bucket whose final tat is
 * not in the future is deleted (it is full again), others get the TTL of the
 * time until they are full plus up to twice the margin (see above).
 */
export const sourceBatch = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local EPS = 1e-4
local margin = tonumber(ARGV[1])
-- the tat (0 when absent: long past) and expiry (0: unknown) of every key, and the keys written
local tats, expiries, written, dirty = {}, {}, {}, {}

-- Every key read at once: one MGET instead of a GET per request.
local values = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local key, stored = KEYS[i], values[i]
  if tats[key] == nil then
    ${readStored}
    tats[key] = storedTat or 0
    expiries[key] = storedExpiry
  end
end

local function store(key, tat)
  tats[key] = tat
  if not dirty[key] then
    dirty[key] = true
    written[#written + 1] = key
  end
end

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

local sets = {}
local a = 3
for s = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[a])
  local intervals, bursts = {}, {}
  for i = 1, n do
    intervals[i] = 1000 / tonumber(ARGV[a + 1 + 2 * i])
    bursts[i] = tonumber(ARGV[a + 2 + 2 * i])
  end
  sets[s] = { n, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), intervals, bursts }
  a = a + 3 + 2 * n
end

local tokens = ARGV[a]
a = a + 1
local reply = {}
local befores = {}
local k = 0
for op, set in string.gmatch(tokens, '(%a)(%d*)') do
  local start = #reply + 1
  reply[start] = 0
  local n
  if op == 'r' then
    n = tonumber(ARGV[a])
    for i = 1, n do
      local key = KEYS[k + i]
      local cur = tats[key]
      -- Only the last reservation of a bucket can be undone.
      if cur > 0 and math.abs(cur - tonumber(ARGV[a + 2 * i])) <= EPS then
        store(key, tonumber(ARGV[a - 1 + 2 * i]))
      end
    end
    reply[start + 1] = 1
    a = a + 1 + 2 * n
  else
    set = sets[tonumber(set)]
    n = set[1]
    local cost, maxWait, intervals, bursts = set[2], set[3], set[4], set[5]
    local actAt, worst = now, 1
    for i = 1, n do
      local tat = tats[KEYS[k + i]]
      if tat < now then tat = now end
      befores[i] = tat
      local allowAt = tat + (cost - bursts[i]) * intervals[i]
      if allowAt > actAt then
        actAt = allowAt
        worst = i
      end
    end
    local wait = actAt - now
    if wait > maxWait + EPS and wait > EPS then
      local debt = befores[worst] - now
      reply[start + 1] = 0
      reply[start + 2] = 0
      reply[start + 3] = worst
      reply[start + 4] = whole(debt, intervals[worst], bursts[worst])
      reply[start + 5] = ceilms(debt)
      reply[start + 6] = ceilms(wait)
    else
      if wait <= EPS then actAt = now end
      local waitMillis = ceilms(actAt - now)
      local commit = op == 'c' and cost > 0
      local binding, bindingRemaining, bindingTat = 1, math.huge, now
      reply[start + 1] = 1
      reply[start + 2] = waitMillis
      for i = 1, n do
        local base = befores[i]
        if actAt > base then base = actAt end
        local tat = base + cost * intervals[i]
        if commit then store(KEYS[k + i], tat) end
        local r = whole(tat - now, intervals[i], bursts[i])
        if r < bindingRemaining then
          binding, bindingRemaining, bindingTat = i, r, tat
        end
      end
      if waitMillis == 0 and binding == 1 then
        -- the short form of the common reply (see the one-bucket script)
        reply[start + 1] = bindingRemaining
        reply[start + 2] = ceilms(bindingTat - now)
      else
        reply[start + 3] = binding
        reply[start + 4] = bindingRemaining
        reply[start + 5] = ceilms(bindingTat - now)
        reply[start + 6] = 0
      end
      if commit and waitMillis > 0 then
        for i = 1, n do
          local base = befores[i]
          if actAt > base then base = actAt end
          reply[#reply + 1] = string.format('%.17g', befores[i])
          reply[#reply + 1] = string.format('%.17g', base + cost * intervals[i])
        end
      end
    end
  end
  reply[start] = #reply - start
  k = k + n
end

for j = 1, #written do
  local key = written[j]
  local tat = tats[key]
  local expiresAt = expiries[key]
  ${writeTat}
end
return reply
`

/** SHA1 of the one-bucket script, as EVALSHA wants it. @internal */
export const sha1: string = createHash("sha1").update(source).digest("hex")

/** SHA1 of the batch script. @internal */
export const sha1Batch: string = createHash("sha1").update(sourceBatch).digest("hex")

/**
 * One request with fixed windows beside its buckets (core's
 * `RateLimiterStore` "Windows"), decided all-or-nothing in one run: never
 * batched (requests with windows are the rarer, outbound-quota kind), so it
 * is written for clarity over the last microsecond.
 *
 * KEYS        n bucket keys (the GCRA `tat`, as above), then m window keys.
 *             A window key holds struct.pack('<dd', index, count): the
 *             latest window charged (its index k: it spans
 *             [k × W, (k + 1) × W) in epoch milliseconds) and the cost
 *             counted in it.
 * ARGV[1]     "c" consume, "p" peek, "r" refund.
 * ARGV[2]     TTL margin in ms.
 * ARGV[3..6]  n, m, cost, maxWaitMillis.
 * then        n pairs tokensPerSecond, burstSize; m pairs limit, windowMillis.
 * r: then     the reservation: per bucket the tat before and after, per
 *             window the index and count before (index -1: nothing to keep)
 *             and after.
 *
 * Reply of c / p: { allowed, waitMillis, binding (1-based over the buckets
 * then the windows), remaining, resetAfterMillis, retryAfterMillis }, then
 * the reservation as strings when a consume made one. Reply of r: { 1 }.
 *
 * Windows are aligned to the epoch on the server's clock (TIME), so every
 * instance agrees on where a day starts (UTC midnight). A window key's TTL
 * is the time to the end of the window it counts plus the margin: at most
 * its length (plus the wait of a reservation into the next window) plus the
 * margin, after which an absent key reads as an empty window, which it is.
 */
export const sourceWindows = `
local t = redis.call('TIME')
local sec, usec = tonumber(t[1]), tonumber(t[2])
local now = (sec - 1700000000) * 1000 + usec / 1000
local nowAbs = sec * 1000 + usec / 1000
local EPOCH = 1700000000000
local EPS = 1e-4
local op = ARGV[1]
local margin = tonumber(ARGV[2])
local n, m = tonumber(ARGV[3]), tonumber(ARGV[4])
local cost, maxWait = tonumber(ARGV[5]), tonumber(ARGV[6])

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

local function left(limit, count)
  local r = math.floor(limit - count + 1e-9)
  if r < 0 then return 0 end
  return r
end

-- a window key's state: its index (nil when absent) and count
local function readWindow(key)
  local value = redis.call('GET', key)
  if not value or #value ~= 16 then return nil, 0 end
  return struct.unpack('<dd', value)
end

local function writeWindow(key, idx, count, length)
  local ttl = math.ceil((idx + 1) * length - nowAbs) + margin
  if count <= 0 or ttl <= margin then
    redis.call('DEL', key)
  else
    redis.call('SET', key, struct.pack('<dd', idx, count), 'PX', ttl)
  end
end

local intervals, bursts, limits, lengths = {}, {}, {}, {}
for i = 1, n do
  intervals[i] = 1000 / tonumber(ARGV[5 + 2 * i])
  bursts[i] = tonumber(ARGV[6 + 2 * i])
end
for j = 1, m do
  limits[j] = tonumber(ARGV[5 + 2 * n + 2 * j])
  lengths[j] = tonumber(ARGV[6 + 2 * n + 2 * j])
end

if op == 'r' then
  local a = 7 + 2 * n + 2 * m
  for i = 1, n do
    local key = KEYS[i]
    local stored = redis.call('GET', key)
    ${readStored}
    -- Only the last reservation of a bucket can be undone.
    if storedTat and math.abs(storedTat - tonumber(ARGV[a + 2 * i - 1])) <= EPS then
      local tat, expiresAt = tonumber(ARGV[a + 2 * i - 2]), storedExpiry
      ${writeTat}
    end
  end
  a = a + 2 * n
  for j = 1, m do
    local key = KEYS[n + j]
    local o = a + 4 * (j - 1)
    local idx, count = readWindow(key)
    -- while the window charged is still the latest: the cost comes off its count,
    -- and once nothing else is in it, the state before comes back
    if idx and idx == tonumber(ARGV[o + 2]) then
      local rest = count - cost
      if rest > EPS then
        redis.call('SET', key, struct.pack('<dd', idx, rest), 'KEEPTTL')
      else
        local before = tonumber(ARGV[o])
        if before < 0 then redis.call('DEL', key)
        else writeWindow(key, before, tonumber(ARGV[o + 1]), lengths[j]) end
      end
    end
  end
  return { 1 }
end

-- Pass 1: when may the call act? The buckets' GCRA times, then the windows'.
local actAt, worst = now, 1
local befores, expiries = {}, {}
for i = 1, n do
  local stored = redis.call('GET', KEYS[i])
  ${readStored}
  local tat = storedTat or 0
  if tat < now then tat = now end
  befores[i], expiries[i] = tat, storedExpiry
  local allowAt = tat + (cost - bursts[i]) * intervals[i]
  if allowAt > actAt then actAt, worst = allowAt, i end
end
local latest, counts, kept = {}, {}, {}
for j = 1, m do
  local length = lengths[j]
  local idx, count = readWindow(KEYS[n + j])
  local current = math.floor(nowAbs / length)
  kept[j] = -1
  if idx == nil or idx < current then idx, count = current, 0 else kept[j] = idx end
  latest[j], counts[j] = idx, count
  local allowAt
  if count + cost <= limits[j] then
    allowAt = now
    -- a later window (reservations went there first): from its start
    if idx > current then allowAt = idx * length - EPOCH end
  else
    allowAt = (idx + 1) * length - EPOCH
  end
  if allowAt > actAt then actAt, worst = allowAt, n + j end
end

local wait = actAt - now
if wait > maxWait + EPS and wait > EPS then
  if worst <= n then
    local debt = befores[worst] - now
    return { 0, 0, worst, whole(debt, intervals[worst], bursts[worst]), ceilms(debt), ceilms(wait) }
  end
  local j = worst - n
  return { 0, 0, worst, left(limits[j], counts[j]), ceilms((latest[j] + 1) * lengths[j] - nowAbs), ceilms(wait) }
end

-- Pass 2: charge every bucket as of actAt and every window holding the time the caller acts.
if wait <= EPS then actAt = now end
local waitMillis = ceilms(actAt - now)
local actsAbs = nowAbs + waitMillis
local commit = op == 'c' and cost > 0
local binding, bindingRemaining, bindingReset = 1, math.huge, 0
local reservation = {}
for i = 1, n do
  local base = befores[i]
  if actAt > base then base = actAt end
  local tat = base + cost * intervals[i]
  if commit then
    local key, expiresAt = KEYS[i], expiries[i]
    ${writeTat}
  end
  local r = whole(tat - now, intervals[i], bursts[i])
  if r < bindingRemaining then binding, bindingRemaining, bindingReset = i, r, tat - now end
  reservation[#reservation + 1] = string.format('%.17g', befores[i])
  reservation[#reservation + 1] = string.format('%.17g', tat)
end
for j = 1, m do
  local length = lengths[j]
  local idx, count = latest[j], counts[j]
  local target = math.floor(actsAbs / length)
  if target > idx then idx, count = target, 0 end
  count = count + cost
  if commit then writeWindow(KEYS[n + j], idx, count, length) end
  local r = left(limits[j], count)
  if r < bindingRemaining then binding, bindingRemaining, bindingReset = n + j, r, (idx + 1) * length - nowAbs end
  reservation[#reservation + 1] = string.format('%.17g', kept[j])
  reservation[#reservation + 1] = string.format('%.17g', counts[j])
  reservation[#reservation + 1] = string.format('%.17g', idx)
  reservation[#reservation + 1] = string.format('%.17g', count)
end
local reply = { 1, waitMillis, binding, bindingRemaining, ceilms(bindingReset), 0 }
if commit and waitMillis > 0 then
  for k = 1, #reservation do reply[#reply + 1] = reservation[k] end
end
return reply
`

/** SHA1 of the windows script. @internal */
export const sha1Windows: string = createHash("sha1").update(sourceWindows).digest("hex")
