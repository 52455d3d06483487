/**
 * The in-memory `RateLimiterStore`, put together from three parts, each
 * readable alone:
 *
 * - `keyIndex.ts`: which slot holds a key (a bounded open-addressing table);
 * - `lru.ts`: slots in least-recently-used order, and when to sweep idle keys;
 * - `tokenBucket.ts`: the GCRA arithmetic, pure.
 *
 * A plain bucket key is held as `KeyHash.storeKey` makes it, as the Redis
 * store does: RateLimiter's keys as they are, a hostile one (huge, braces,
 * control characters, unicode) as its short hash, so a store used directly
 * keeps at most ~25 characters per such key. A split bucket (RateLimiter's
 * fast path) already has a store key and is held as it comes.
 *
 * This module holds each slot's bucket state (`tats`: the time the bucket is
 * full again, one number per key), makes decisions with the arithmetic, and
 * keeps the index and the order in step: a key is added with room made first
 * (evicting the least recently used past `maxKeys`), touched when used,
 * dropped when idle.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as RateLimiterStore from "../RateLimiterStore.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as KeyHash from "./keyHash.js"
import { KeyIndex, NONE } from "./keyIndex.js"
import type { Hasher } from "./keyIndex.js"
import { IDLE_GRACE_MILLIS, Lru, SWEEP_SIZE } from "./lru.js"
import * as TokenBucket from "./tokenBucket.js"
import * as validate from "./validate.js"

const POLICY = "RateLimiterStore"

/** @internal */
export { IDLE_GRACE_MILLIS } from "./lru.js"

/** A key's index hash, replaceable in tests. @internal */
export type KeyHasher = Hasher

/**
 * The memory store's synchronous decision, for `RateLimiter`'s fast path:
 * inside a fiber's step, one decision needs no Effect of its own.
 *
 * @internal
 */
export const UnsafeConsume: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/unsafeConsume")

/**
 * A bucket as `RateLimiter`'s fast path hands it over: its key already split
 * into `namespace` (the text up to and including the first `|`, "" when there
 * is none) and `key` (the rest). The same bucket as the plain one whose key is
 * `namespace + key`, without building that string on every decision.
 *
 * @internal
 */
export interface SplitBucket extends RateLimiterStore.Bucket {
  readonly namespace: string
}

/** @internal */
export interface SplitRequest extends RateLimiterStore.Request {
  readonly buckets: ReadonlyArray<SplitBucket>
}

/**
 * `fiber`: the fiber whose step is running (its Clock decides). `hash`: for
 * a one-bucket request, its bucket's index hash when the caller already has
 * it (from `HashIfSafe`), else NaN.
 *
 * @internal
 */
export type UnsafeConsume = (
  request: SplitRequest,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  hash: number
) => RateLimiterStore.Decision

/**
 * The memory store's index hash of a split key, computed while checking that
 * every character of the key is marked in `safe` (ASCII only): NaN when one
 * is not (see `KeyIndex.hashIfSafe`).
 *
 * @internal
 */
export const HashIfSafe: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/hashIfSafe")

/** @internal */
export type HashIfSafe = (namespace: string, key: string, safe: Uint8Array) => number

/** @internal */
export const hashIfSafeOf = (store: RateLimiterStore.Service): HashIfSafe | undefined =>
  (store as { readonly [HashIfSafe]?: HashIfSafe })[HashIfSafe]

/** @internal */
export const unsafeConsumeOf = (store: RateLimiterStore.Service): UnsafeConsume | undefined =>
  (store as { readonly [UnsafeConsume]?: UnsafeConsume })[UnsafeConsume]

/** The memory store's key count as it stands, idle keys included (`stats` drops them first). @internal */
export const KeyCount: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/keyCount")

/** The key count of a memory store, without a sweep; undefined for any other store. @internal */
export const unsafeKeyCountOf = (store: RateLimiterStore.Service): number | undefined =>
  (store as { readonly [KeyCount]?: () => number })[KeyCount]?.()

/** The fiber running the current sync op (`Effect.sync` runs inside one). @internal */
export const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> => Option.getOrThrow(Fiber.getCurrentFiber())

/** @internal */
export const makeMemory = (
  options?: RateLimiterStore.MemoryOptions | undefined
): Effect.Effect<RateLimiterStore.Service, InvalidOptionsError> =>
  Effect.map(
    validate.positiveInt(POLICY, "maxKeys", options?.maxKeys, 100_000),
    (maxKeys) => unsafeMakeMemory(maxKeys)
  )

// Slot arrays start this small and double up to `maxKeys`.
const INITIAL_CAPACITY = 64

/**
 * A store's clock: the fiber's Clock (a TestClock in tests), read in
 * milliseconds since the store's first reading. Epoch milliseconds (~1.7e12)
 * would leave only ~0.2 µs of double precision for fractional tokens.
 */
class StoreClock {
  private origin: number | undefined = undefined
  // The Clock of the default services seen last: they change only when a
  // fiber provides another Clock (a TestClock), and a `Context` lookup per
  // decision costs ~20 ns of RateLimiter's 100 ns synchronous decision
  // (`limiterCpu.mjs`, this cache turned off: 100 -> 124 ns, 1 key).
  private services: Context.Context<never> | undefined = undefined
  private clock: Clock.Clock | undefined = undefined

  now(fiber: Fiber.RuntimeFiber<unknown, unknown>): number {
    const services = fiber.currentDefaultServices
    if (services !== this.services || this.clock === undefined) {
      this.clock = Context.get(services, Clock.Clock)
      this.services = services
    }
    const t = this.clock.unsafeCurrentTimeMillis()
    if (this.origin === undefined) this.origin = t
    return t - this.origin
  }

  /** The Clock's time of this store's zero (epoch millis): windows align to the epoch. 0 before any reading. */
  epochOf(at: number): number {
    return (this.origin ?? 0) + at
  }
}

/**
 * `hasher` replaces the index's hash, for tests (a constant one makes every
 * key collide); `singleBucketPath: false` sends every request down the general
 * path, for tests comparing the two.
 *
 * @internal
 */
export const unsafeMakeMemory = (
  maxKeys: number,
  hasher?: KeyHasher | undefined,
  singleBucketPath = true
): RateLimiterStore.Service => {
  const clock = new StoreClock()
  let capacity = Math.min(maxKeys, INITIAL_CAPACITY)
  const index = new KeyIndex(capacity, hasher)
  const lru = new Lru(capacity)
  let tats = new Float64Array(capacity) // per slot: the time its bucket is full again
  // Per window slot: the cost counted in the latest window charged, whose end
  // is its `tats` entry (so an idle sweep drops a window once it has ended).
  // Allocated at the first window: token-bucket-only stores never pay for it.
  let counts: Float64Array | undefined = undefined
  const { keys, namespaces } = index

  // Two "last seen" caches: one busy client's decisions follow each other.
  // Measured by turning each off (`node scripts/bench/dist/limiterCpu.mjs 7`,
  // CPU ns per decision, medians of 3 alternated runs, 1 key); at 100,000
  // keys they miss and cost a comparison or two, within the noise.
  //
  // The slot `decideOne` decided last (NONE once removed) and the plain key
  // it found it by (undefined: by a split bucket): for a repeat, no hash and
  // no probe. A plain `store.consume`: 240 -> 343 ns without it (the whole
  // key hashed and compared); RateLimiter's path: ~5 ns.
  let lastSlot = NONE
  let lastWhole: string | undefined = undefined
  // The slot last decided with a hash from `hashIfSafe`, and the table its
  // key passed then: for a repeat, no scan of the key. RateLimiter's path:
  // 100 -> 116 ns without it.
  let lastSafeSlot = NONE
  let lastSafeTable: Uint8Array | undefined = undefined
  // the table of the `hashIfSafe` call just made: its hash goes to `decideOne` next
  let checkedTable: Uint8Array | undefined = undefined

  const grow = (): void => {
    capacity = Math.min(maxKeys, capacity * 2)
    index.grow(capacity)
    lru.grow(capacity)
    const grown = new Float64Array(capacity)
    grown.set(tats)
    tats = grown
    if (counts !== undefined) {
      const grownCounts = new Float64Array(capacity)
      grownCounts.set(counts)
      counts = grownCounts
    }
  }

  const remove = (slot: number): void => {
    if (slot === lastSlot) lastSlot = NONE
    if (slot === lastSafeSlot) lastSafeSlot = NONE
    lru.unlink(slot)
    index.remove(slot)
  }

  const insert = (namespace: string, key: string, hash: number, tat: number): number => {
    // evict first, so the arrays never need more than maxKeys slots
    if (index.size >= maxKeys) remove(lru.head)
    if (!index.hasRoom()) grow()
    const slot = index.add(namespace, key, hash)
    tats[slot] = tat
    lru.append(slot)
    return slot
  }

  const insertWhole = (whole: string, hash: number, tat: number): number => {
    const bar = whole.indexOf("|")
    return insert(whole.slice(0, bar + 1), whole.slice(bar + 1), hash, tat)
  }

  // Drop a few of the least recently used keys once idle (see lru.ts).
  const sweepNowAndThen = (at: number): void => {
    if (!lru.sweepDue()) return
    const idleSince = at - IDLE_GRACE_MILLIS
    for (let i = 0; i < SWEEP_SIZE && lru.head !== NONE && tats[lru.head] <= idleSince; i++) remove(lru.head)
  }

  const hashIfSafe: HashIfSafe = (namespace, key, safe) => {
    checkedTable = safe
    const slot = lastSafeSlot
    if (slot !== NONE && safe === lastSafeTable && keys[slot] === key && namespaces[slot] === namespace) {
      return index.hashes[slot]
    }
    return index.hashIfSafe(namespace, key, safe)
  }

  const lookup = (bucket: RateLimiterStore.Bucket): number => {
    const namespace = (bucket as Partial<SplitBucket>).namespace
    if (namespace !== undefined) return index.find(namespace, bucket.key, index.hash(namespace, bucket.key))
    const stored = KeyHash.storeKey(bucket.key)
    return index.findWhole(stored, index.hashWhole(stored))
  }

  const fullKey = (bucket: RateLimiterStore.Bucket): string => {
    const namespace = (bucket as Partial<SplitBucket>).namespace
    return namespace === undefined ? bucket.key : namespace + bucket.key
  }

  // The slots of the current decision's buckets, looked up once (decisions
  // are synchronous, so one scratch array serves them all).
  const found: Array<number> = []

  const decide = (request: RateLimiterStore.Request, at: number, commit: boolean): RateLimiterStore.Decision => {
    const buckets = request.buckets
    const cost = request.cost
    const n = buckets.length
    // Pass 1: when may the call act? (the latest allowAt over the buckets)
    let actAt = at
    let worst = 0
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const slot = lookup(bucket)
      found[i] = slot
      const tat = TokenBucket.current(slot === NONE ? at : tats[slot], at)
      const allowAt = TokenBucket.allowAt(tat, cost, 1000 / bucket.tokensPerSecond, bucket.burstSize)
      if (allowAt > actAt) {
        actAt = allowAt
        worst = i
      }
    }
    const wait = actAt - at
    if (!TokenBucket.admits(wait, request.maxWaitMillis)) {
      // A rejected client is an active one: keep it from being evicted (an
      // evicted bucket would come back full).
      if (commit) {
        for (let i = 0; i < n; i++) if (found[i] !== NONE) lru.touch(found[i])
      }
      const bucket = buckets[worst]
      const slot = found[worst]
      const debt = TokenBucket.current(slot === NONE ? at : tats[slot], at) - at
      return {
        allowed: false,
        waitMillis: 0,
        limit: bucket.burstSize,
        remaining: TokenBucket.remaining(debt, 1000 / bucket.tokensPerSecond, bucket.burstSize),
        resetAfterMillis: TokenBucket.ceilMillis(debt),
        retryAfterMillis: TokenBucket.ceilMillis(wait),
        rejectedBy: fullKey(bucket),
        binding: worst,
        reservation: undefined
      }
    }
    if (wait <= TokenBucket.EPSILON) actAt = at
    const waitMillis = TokenBucket.ceilMillis(actAt - at)
    const reservation: Array<number> | undefined = waitMillis > 0 && commit ? new Array(2 * n) : undefined
    // Pass 2: charge every bucket as of actAt, and report the tightest one.
    // Known keys are charged before new ones are inserted: an insert may evict
    // (and reuse) the least recently used slot, which must not be one of ours.
    let binding = 0
    let bindingRemaining = Infinity
    let bindingTat = at
    let inserts = 0
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const interval = 1000 / bucket.tokensPerSecond
      const slot = found[i]
      const before = TokenBucket.current(slot === NONE ? at : tats[slot], at)
      const tat = TokenBucket.charge(before, actAt, cost, interval)
      if (commit && cost > 0) {
        if (slot === NONE) inserts++
        else {
          tats[slot] = tat
          lru.touch(slot)
        }
      }
      if (reservation !== undefined) {
        reservation[2 * i] = before
        reservation[2 * i + 1] = tat
      }
      const remaining = TokenBucket.remaining(tat - at, interval, bucket.burstSize)
      if (remaining < bindingRemaining) {
        binding = i
        bindingRemaining = remaining
        bindingTat = tat
      }
    }
    if (inserts > 0) {
      for (let i = 0; i < n; i++) {
        if (found[i] !== NONE) continue
        const bucket = buckets[i]
        const namespace = (bucket as Partial<SplitBucket>).namespace
        const tat = TokenBucket.charge(at, actAt, cost, 1000 / bucket.tokensPerSecond)
        if (namespace === undefined) {
          const stored = KeyHash.storeKey(bucket.key)
          insertWhole(stored, index.hashWhole(stored), tat)
        } else insert(namespace, bucket.key, index.hash(namespace, bucket.key), tat)
      }
    }
    if (commit) sweepNowAndThen(at)
    return {
      allowed: true,
      waitMillis,
      limit: buckets[binding].burstSize,
      remaining: bindingRemaining,
      resetAfterMillis: TokenBucket.ceilMillis(bindingTat - at),
      retryAfterMillis: 0,
      rejectedBy: undefined,
      binding,
      reservation
    }
  }

  // `decide` for one bucket: `RateLimiter`'s fast path without a global
  // bucket, and a plain one-bucket `consume` or `peek`. The same arithmetic,
  // without the scratch slots and the second pass; a plain key is hashed
  // whole (one pass) and split only when it is inserted (~15% of a 1-key
  // decision).
  const decideOne = (
    bucket: RateLimiterStore.Bucket,
    cost: number,
    maxWaitMillis: number,
    at: number,
    commit: boolean,
    knownHash: number
  ): RateLimiterStore.Decision => {
    const namespace = (bucket as Partial<SplitBucket>).namespace
    const key = bucket.key
    const known = !Number.isNaN(knownHash)
    let slot = lastSlot
    let hash = 0
    let stored = key
    if (namespace !== undefined) {
      if (slot === NONE || keys[slot] !== key || namespaces[slot] !== namespace) {
        hash = known ? knownHash : index.hash(namespace, key)
        slot = index.find(namespace, key, hash)
      }
    } else if (slot === NONE || key !== lastWhole) {
      stored = KeyHash.storeKey(key)
      hash = index.hashWhole(stored)
      slot = index.findWhole(stored, hash)
    }
    const interval = 1000 / bucket.tokensPerSecond
    const burstSize = bucket.burstSize
    const before = TokenBucket.current(slot === NONE ? at : tats[slot], at)
    const allowAt = TokenBucket.allowAt(before, cost, interval, burstSize)
    const wait = allowAt - at
    if (!TokenBucket.admits(wait, maxWaitMillis)) {
      if (slot !== NONE && commit) lru.touch(slot)
      return {
        allowed: false,
        waitMillis: 0,
        limit: burstSize,
        remaining: TokenBucket.remaining(before - at, interval, burstSize),
        resetAfterMillis: TokenBucket.ceilMillis(before - at),
        retryAfterMillis: TokenBucket.ceilMillis(wait),
        rejectedBy: namespace === undefined ? key : namespace + key,
        binding: 0,
        reservation: undefined
      }
    }
    const actAt = wait > TokenBucket.EPSILON ? allowAt : at
    const waitMillis = TokenBucket.ceilMillis(actAt - at)
    const tat = TokenBucket.charge(before, actAt, cost, interval)
    if (commit && cost > 0) {
      if (slot !== NONE) {
        tats[slot] = tat
        lru.touch(slot)
      } else if (namespace !== undefined) slot = insert(namespace, key, hash, tat)
      else slot = insertWhole(stored, hash, tat)
    }
    // remembered before the sweep: a sweep that drops it forgets it
    if (slot !== NONE && (slot !== lastSlot || namespace === undefined)) {
      lastSlot = slot
      lastWhole = namespace === undefined ? key : undefined
    }
    if (known) {
      lastSafeSlot = slot
      lastSafeTable = checkedTable
    }
    if (commit) sweepNowAndThen(at)
    return {
      allowed: true,
      waitMillis,
      limit: burstSize,
      remaining: TokenBucket.remaining(tat - at, interval, burstSize),
      resetAfterMillis: TokenBucket.ceilMillis(tat - at),
      retryAfterMillis: 0,
      rejectedBy: undefined,
      binding: 0,
      reservation: waitMillis > 0 && commit ? [before, tat] : undefined
    }
  }

  const refund = (request: RateLimiterStore.Request, decision: RateLimiterStore.Decision, at: number): void => {
    const reservation = decision.reservation
    if (reservation === undefined) return
    const windows = request.windows
    if (windows !== undefined && windows.length > 0) refundWindows(request, windows, reservation, at)
    const buckets = request.buckets
    for (let i = 0; i < buckets.length; i++) {
      const slot = lookup(buckets[i])
      // Only the last reservation of a bucket can be undone: tokens behind a
      // later reservation are already promised to it.
      if (slot === NONE || Math.abs(tats[slot] - reservation[2 * i + 1]) > TokenBucket.EPSILON) continue
      const before = reservation[2 * i]
      if (before <= at) remove(slot)
      else tats[slot] = before
    }
  }

  // ---------------------------------------------------------------------------
  // Windows: fixed windows aligned to the epoch (RateLimiterStore's module doc).
  // A window key is held as "%" + its store key: "%" is outside both the
  // verbatim alphabet and the hashed form ("~#…"), so it never names a bucket.
  // Its slot holds the end of the latest window charged (`tats`, relative to
  // the store's clock like a bucket's) and the cost counted in it (`counts`).
  // ---------------------------------------------------------------------------

  const windowKey = (window: RateLimiterStore.Window): string => "%" + KeyHash.storeKey(window.key)

  // The stored key and hash of the window object seen last at each position
  // of a request: RateLimiter hands the same objects over for a client's
  // successive calls, so a repeat builds, flattens and hashes no "%" + key
  // string (three windows, one key: ~5.4 -> ~1.1 µs per store decision, on a
  // loaded 2-core machine). A WeakMap did the same but cost the collector
  // dearly with many clients (an ephemeron per window object).
  const seenWindows: Array<RateLimiterStore.Window | undefined> = []
  const seenStored: Array<string> = []
  const seenHashes: Array<number> = []

  const lookupWindow = (window: RateLimiterStore.Window, j: number): number => {
    if (seenWindows[j] !== window) {
      const stored = windowKey(window)
      seenWindows[j] = window
      seenStored[j] = stored
      seenHashes[j] = index.hashWhole(stored)
    }
    return index.findWhole(seenStored[j], seenHashes[j])
  }

  // The start of the window of length `length` holding `at` (store time; epoch-aligned).
  const windowStart = (at: number, length: number): number => {
    const epoch = clock.epochOf(at)
    return epoch - (epoch % length) - (epoch - at)
  }

  const windowSlots: Array<number> = []
  const windowCounts: Array<number> = [] // the count of the latest window charged (0: none live)
  const windowStarts: Array<number> = [] // the start of the latest window charged (or the current one)

  const decideWindows = (
    request: RateLimiterStore.Request,
    windows: ReadonlyArray<RateLimiterStore.Window>,
    at: number,
    commit: boolean
  ): RateLimiterStore.Decision => {
    const buckets = request.buckets
    const cost = request.cost
    const n = buckets.length
    const m = windows.length
    if (counts === undefined) counts = new Float64Array(tats.length)
    const windowCount = counts
    // Pass 1: when may the call act? The buckets as in `decide`, then the windows.
    let actAt = at
    let worst = 0
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const slot = lookup(bucket)
      found[i] = slot
      const tat = TokenBucket.current(slot === NONE ? at : tats[slot], at)
      const allowAt = TokenBucket.allowAt(tat, cost, 1000 / bucket.tokensPerSecond, bucket.burstSize)
      if (allowAt > actAt) {
        actAt = allowAt
        worst = i
      }
    }
    for (let j = 0; j < m; j++) {
      const window = windows[j]
      const length = window.windowMillis
      const slot = lookupWindow(window, j)
      windowSlots[j] = slot
      const live = slot !== NONE && tats[slot] > at
      const count = live ? windowCount[slot] : 0
      const start = live ? tats[slot] - length : windowStart(at, length)
      windowCounts[j] = count
      windowStarts[j] = start
      const allowAt = count + cost <= window.limit ? (start > at ? start : at) : start + length
      if (allowAt > actAt) {
        actAt = allowAt
        worst = n + j
      }
    }
    const wait = actAt - at
    if (!TokenBucket.admits(wait, request.maxWaitMillis)) {
      if (commit) {
        for (let i = 0; i < n; i++) if (found[i] !== NONE) lru.touch(found[i])
        for (let j = 0; j < m; j++) if (windowSlots[j] !== NONE) lru.touch(windowSlots[j])
      }
      if (worst < n) {
        const bucket = buckets[worst]
        const slot = found[worst]
        const debt = TokenBucket.current(slot === NONE ? at : tats[slot], at) - at
        return {
          allowed: false,
          waitMillis: 0,
          limit: bucket.burstSize,
          remaining: TokenBucket.remaining(debt, 1000 / bucket.tokensPerSecond, bucket.burstSize),
          resetAfterMillis: TokenBucket.ceilMillis(debt),
          retryAfterMillis: TokenBucket.ceilMillis(wait),
          rejectedBy: fullKey(bucket),
          binding: worst,
          reservation: undefined
        }
      }
      const j = worst - n
      const window = windows[j]
      return {
        allowed: false,
        waitMillis: 0,
        limit: window.limit,
        remaining: Math.max(0, Math.floor(window.limit - windowCounts[j] + 1e-9)),
        resetAfterMillis: TokenBucket.ceilMillis(windowStarts[j] + window.windowMillis - at),
        retryAfterMillis: TokenBucket.ceilMillis(wait),
        rejectedBy: window.key,
        binding: worst,
        reservation: undefined
      }
    }
    if (wait <= TokenBucket.EPSILON) actAt = at
    const waitMillis = TokenBucket.ceilMillis(actAt - at)
    // the caller acts at `at + waitMillis`: its cost counts in the window holding that time
    const actsAt = at + waitMillis
    const reservation: Array<number> | undefined = waitMillis > 0 && commit ? new Array(2 * n + 4 * m) : undefined
    let binding = 0
    let bindingRemaining = Infinity
    let bindingReset = 0
    let inserts = 0
    // Pass 2: charge (known keys first, as in `decide`), and report the tightest.
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const interval = 1000 / bucket.tokensPerSecond
      const slot = found[i]
      const before = TokenBucket.current(slot === NONE ? at : tats[slot], at)
      const tat = TokenBucket.charge(before, actAt, cost, interval)
      if (commit && cost > 0) {
        if (slot === NONE) inserts++
        else {
          tats[slot] = tat
          lru.touch(slot)
        }
      }
      if (reservation !== undefined) {
        reservation[2 * i] = before
        reservation[2 * i + 1] = tat
      }
      const remaining = TokenBucket.remaining(tat - at, interval, bucket.burstSize)
      if (remaining < bindingRemaining) {
        binding = i
        bindingRemaining = remaining
        bindingReset = tat - at
      }
    }
    for (let j = 0; j < m; j++) {
      const window = windows[j]
      const length = window.windowMillis
      const slot = windowSlots[j]
      const latest = windowStarts[j]
      const start = windowStart(actsAt, length)
      // a later window than the latest charged starts empty (never an earlier one: actAt >= latest)
      const fresh = start > latest + TokenBucket.EPSILON
      const count = (fresh ? 0 : windowCounts[j]) + cost
      const end = (fresh ? start : latest) + length
      if (commit && cost > 0) {
        if (slot === NONE) inserts++
        else {
          tats[slot] = end
          windowCount[slot] = count
          lru.touch(slot)
        }
      }
      if (reservation !== undefined) {
        const o = 2 * n + 4 * j
        reservation[o] = windowCounts[j] > 0 ? latest + length : at
        reservation[o + 1] = windowCounts[j]
        reservation[o + 2] = end
        reservation[o + 3] = count
      }
      const remaining = Math.max(0, Math.floor(window.limit - count + 1e-9))
      if (remaining < bindingRemaining) {
        binding = n + j
        bindingRemaining = remaining
        bindingReset = end - at
      }
    }
    if (inserts > 0) {
      for (let i = 0; i < n; i++) {
        if (found[i] !== NONE) continue
        const bucket = buckets[i]
        const namespace = (bucket as Partial<SplitBucket>).namespace
        const tat = TokenBucket.charge(at, actAt, cost, 1000 / bucket.tokensPerSecond)
        if (namespace === undefined) {
          const stored = KeyHash.storeKey(bucket.key)
          insertWhole(stored, index.hashWhole(stored), tat)
        } else insert(namespace, bucket.key, index.hash(namespace, bucket.key), tat)
      }
      for (let j = 0; j < m; j++) {
        if (windowSlots[j] !== NONE) continue
        const window = windows[j]
        const stored = windowKey(window)
        const slot = insertWhole(
          stored,
          index.hashWhole(stored),
          windowStart(actsAt, window.windowMillis) + window.windowMillis
        )
        // `grow` may have replaced the array
        counts![slot] = cost
      }
    }
    if (commit) sweepNowAndThen(at)
    return {
      allowed: true,
      waitMillis,
      limit: binding < n ? buckets[binding].burstSize : windows[binding - n].limit,
      remaining: bindingRemaining,
      resetAfterMillis: TokenBucket.ceilMillis(bindingReset),
      retryAfterMillis: 0,
      rejectedBy: undefined,
      binding,
      reservation
    }
  }

  // A window's refund: while its latest window is still the one the
  // reservation charged, its count goes down by the cost (calls counted
  // after it stay counted: a smaller count only frees room they already had);
  // back to the state before when nothing else is left in it (the window the
  // reservation moved on from keeps its count).
  const refundWindows = (
    request: RateLimiterStore.Request,
    windows: ReadonlyArray<RateLimiterStore.Window>,
    reservation: ReadonlyArray<number>,
    at: number
  ): void => {
    const windowCount = counts
    if (windowCount === undefined) return
    const o0 = 2 * request.buckets.length
    for (let j = 0; j < windows.length; j++) {
      const o = o0 + 4 * j
      const slot = lookupWindow(windows[j], j)
      if (slot === NONE || tats[slot] !== reservation[o + 2]) continue
      const left = windowCount[slot] - request.cost
      if (left > TokenBucket.EPSILON) {
        windowCount[slot] = left
        continue
      }
      const endBefore = reservation[o]
      const countBefore = reservation[o + 1]
      if (countBefore <= 0 || endBefore <= at) remove(slot)
      else {
        tats[slot] = endBefore
        windowCount[slot] = countBefore
      }
    }
  }

  const decideNow = (
    request: RateLimiterStore.Request,
    at: number,
    commit: boolean,
    knownHash: number
  ): RateLimiterStore.Decision => {
    const windows = request.windows
    if (windows !== undefined && windows.length > 0) return decideWindows(request, windows, at, commit)
    return request.buckets.length === 1 && singleBucketPath
      ? decideOne(request.buckets[0], request.cost, request.maxWaitMillis, at, commit, knownHash)
      : decide(request, at, commit)
  }

  // consume (commit) and peek: one run-loop step each, a sync op reading the
  // fiber that runs it (for its Clock), rather than `clockWith` + `succeed`.
  const decideEffect =
    (commit: boolean) => (request: RateLimiterStore.Request): Effect.Effect<RateLimiterStore.Decision> =>
      Effect.sync(() => decideNow(request, clock.now(currentFiber()), commit, Number.NaN))

  const service: RateLimiterStore.Service & {
    readonly [UnsafeConsume]: UnsafeConsume
    readonly [KeyCount]: () => number
    readonly [HashIfSafe]: HashIfSafe
  } = {
    [HashIfSafe]: hashIfSafe,
    [UnsafeConsume]: (request, fiber, hash) => decideNow(request, clock.now(fiber), true, hash),
    [KeyCount]: () => index.size,
    consume: decideEffect(true),
    peek: decideEffect(false),
    refund: (request, decision) => Effect.sync(() => refund(request, decision, clock.now(currentFiber()))),
    stats: Effect.sync(() => {
      // every full key goes first, so the count is exactly the live ones
      const at = clock.now(currentFiber())
      for (let slot = lru.head; slot !== NONE;) {
        const following = lru.next[slot]
        if (tats[slot] <= at) remove(slot)
        slot = following
      }
      return { keys: Option.some(index.size), maxKeys: Option.some(maxKeys) }
    })
  }
  return service
}
