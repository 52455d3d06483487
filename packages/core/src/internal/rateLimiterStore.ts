/**
 * The in-memory `RateLimiterStore`: GCRA token buckets, one number per key
 * (the time the bucket is full again), in typed arrays indexed by an
 * open-addressing hash table of key to slot, plus a doubly linked list of
 * slots in least-recently-used order (O(1) touch and eviction).
 *
 * Idle keys (refilled to full) read the same as absent ones, so they are
 * dropped lazily: every `SWEEP_EVERY` decisions, up to `SWEEP_SIZE` of the
 * least recently used keys, once they have been full for `IDLE_GRACE_MILLIS`.
 * The grace is a trade: without it, a key that many clients' round-robin
 * brings back at a high rate is full again, hence dropped, before its next
 * call, and one decision in eight paid a `Map` delete plus a re-insert (100,000
 * keys cycled: ~20% of the decision's CPU); with it, an idle key lingers up to
 * a second longer. Memory stays bounded by `maxKeys` either way, and `stats`
 * drops every full key first, so it still reports exactly the live ones.
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
import * as TokenBucket from "./tokenBucket.js"
import * as validate from "./validate.js"

const POLICY = "RateLimiterStore"

const ClockTag = Clock.Clock

/** Every this many decisions, look at the oldest keys and drop the idle ones. @internal */
const SWEEP_EVERY = 32
/** How many of the oldest keys one sweep looks at, at most. @internal */
const SWEEP_SIZE = 4
/** The lazy sweep drops a key only once it has been full for this long. @internal */
export const IDLE_GRACE_MILLIS = 1000

/**
 * The memory store's synchronous decision, for `RateLimiter`'s fast path: with
 * the Clock in hand, one decision needs no Effect of its own.
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
 * `hash`: for a one-bucket request, its bucket's index hash when the caller
 * already has it (from `HashIfSafe`), else NaN.
 *
 * @internal
 */
export type UnsafeConsume = (request: SplitRequest, clock: Clock.Clock, hash: number) => RateLimiterStore.Decision

/**
 * The memory store's index hash of a split key, computed while checking that
 * every character of the key is marked in `safe` (ASCII only): NaN when one
 * is not. `RateLimiter` keeps a client key verbatim when its characters are
 * all safe, so one pass over the key both decides that and hashes it.
 *
 * @internal
 */
export const HashIfSafe: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/hashIfSafe")

/** @internal */
export type HashIfSafe = (namespace: string, key: string, safe: Uint8Array) => number

/** @internal */
export const hashIfSafeOf = (store: RateLimiterStore.Service): HashIfSafe | undefined =>
  (store as { readonly [HashIfSafe]?: HashIfSafe })[HashIfSafe]

// The Clock of the fiber's default services, remembered for the last
// services seen (they change only when a fiber provides another Clock, such
// as a TestClock): a `Context` lookup per decision shows in profiles.
let lastServices: Context.Context<never> | undefined = undefined
let lastClock: Clock.Clock | undefined = undefined

/** The fiber's Clock (a TestClock in tests). @internal */
export const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Clock.Clock => {
  const services = fiber.currentDefaultServices
  if (services !== lastServices || lastClock === undefined) {
    lastClock = Context.get(services, ClockTag)
    lastServices = services
  }
  return lastClock
}

/** The fiber running the current sync op (`Effect.sync` runs inside one). @internal */
export const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> => Option.getOrThrow(Fiber.getCurrentFiber())

/** @internal */
export const unsafeConsumeOf = (store: RateLimiterStore.Service): UnsafeConsume | undefined =>
  (store as { readonly [UnsafeConsume]?: UnsafeConsume })[UnsafeConsume]

/** The memory store's key count as it stands, idle keys included (`stats` drops them first). @internal */
export const KeyCount: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/keyCount")

/** The key count of a memory store, without a sweep; undefined for any other store. @internal */
export const unsafeKeyCountOf = (store: RateLimiterStore.Service): number | undefined =>
  (store as { readonly [KeyCount]?: () => number })[KeyCount]?.()

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
const NONE = -1
// A lookup probes at most this many index cells; a key that finds no free
// cell that close to its hash's cell goes to an overflow `Map`, so keys made
// to collide cost at most this many probes each, not a scan of the table.
const MAX_PROBES = 128

// The smallest power of two at least twice `capacity` (the index stays at
// most half full: short probe runs).
const tableSizeFor = (capacity: number): number => {
  let size = 16
  while (size < 2 * capacity) size *= 2
  return size
}

/** A key's hash, mixed with the store's random seed. @internal */
export type KeyHasher = (seed: number, namespace: string, key: string) => number

// FNV-1a over the UTF-16 code units, from a random seed, then a MurmurHash3
// finalizer (the index uses the low bits).
const fnv = (h: number, text: string): number => {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
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
  // Times are kept relative to the first clock reading: epoch milliseconds
  // (~1.7e12) leave only ~0.2 µs of double precision for fractional tokens.
  let origin = Number.NaN
  // Struct of arrays: a key lives in a slot (a small integer); the slot's
  // `tat`, hash and neighbours in least-recently-used order live in typed
  // arrays, its namespace and key in two plain arrays. A doubly linked list
  // rather than `Map` re-insertion: touching a key is a few integer writes,
  // and eviction reads the head in O(1).
  //
  // Keys are (namespace, key) pairs, the namespace being a key's text up to
  // its first `|` (a limiter's name): `RateLimiter` passes the client key as
  // it got it, so a decision concatenates no fresh string, and the store keeps
  // the caller's string, not a longer copy.
  //
  // The index is an open-addressing table (linear probing, at most half full)
  // of slot + 1 per cell, not a `Map`: with many keys, a `Map` lookup is two
  // dependent cache misses (its bucket, then its entry), a probe here usually
  // one (the cell; the slot's own arrays are read anyway). 100,000 keys
  // cycled: ~90 ns less per decision. Its hash is seeded per store at random
  // (no one can precompute colliding keys), and probes are capped.
  const seed = (Math.random() * 0x100000000) | 0
  let size = 0
  let capacity = Math.min(maxKeys, INITIAL_CAPACITY)
  const keys: Array<string> = new Array(capacity).fill("")
  const namespaces: Array<string | undefined> = new Array(capacity).fill(undefined) // undefined: a free slot
  let tats = new Float64Array(capacity)
  let hashes = new Int32Array(capacity)
  let prev = new Int32Array(capacity)
  let next = new Int32Array(capacity)
  let cells = new Int32Array(tableSizeFor(capacity)) // slot + 1, or 0 when empty
  let mask = cells.length - 1
  // keys that found no cell within MAX_PROBES, by namespace + key (unique: a
  // namespace is "" or ends at its only `|`)
  const overflow = new Map<string, number>()
  let used = 0 // slots [0, used) have been handed out at least once
  let free = NONE // freed slots, chained through `next`
  let head = NONE // least recently used
  let tail = NONE // most recently used
  let sinceSweep = 0
  // the slot `decideOne` decided last (NONE once removed), and the plain key
  // it was decided by (undefined when by a split bucket)
  let lastSlot = NONE
  let lastWhole: string | undefined = undefined
  // the slot last decided by a hash from `hashIfSafe` (its key passed that table)
  let lastSafeSlot = NONE
  let lastSafeTable: Uint8Array | undefined = undefined

  const now = (clock: Clock.Clock): number => {
    const t = clock.unsafeCurrentTimeMillis()
    if (origin !== origin) origin = t
    return t - origin
  }

  // The hash state after the namespace, for the namespace hashed last: one
  // limiter's decisions mostly follow each other.
  let hashedNamespace = ""
  let namespaceState = fnv(seed, "")
  const hashOf = hasher !== undefined
    ? (namespace: string, key: string): number => hasher(seed, namespace, key)
    : (namespace: string, key: string): number => {
      if (namespace !== hashedNamespace) {
        hashedNamespace = namespace
        namespaceState = fnv(seed, namespace)
      }
      return fmix(fnv(namespaceState, key) ^ key.length)
    }

  // `hashOf` of a plain key's two parts, in one pass over it, without
  // slicing it: FNV-1a is sequential, so hashing the whole text from the seed
  // goes through the namespace's state on the way.
  const hashOfWhole = hasher !== undefined
    ? (whole: string): number => {
      const bar = whole.indexOf("|")
      return hasher(seed, whole.slice(0, bar + 1), whole.slice(bar + 1))
    }
    : (whole: string): number => {
      let h = seed
      let bar = -1
      for (let i = 0; i < whole.length; i++) {
        const c = whole.charCodeAt(i)
        if (c === 124 && bar === -1) bar = i
        h = Math.imul(h ^ c, 0x01000193)
      }
      return fmix(h ^ (whole.length - bar - 1))
    }

  // `find` for a plain key, unsplit: a stored namespace is "" (its key then
  // holds no `|`) or ends at its only `|`, so the one pair whose namespace is
  // a prefix of the whole key and whose key is the rest is its split.
  const findWhole = (whole: string, hash: number): number => {
    for (let i = hash & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      const cell = cells[i]
      if (cell === 0) break
      const slot = cell - 1
      if (hashes[slot] !== hash) continue
      const namespace = namespaces[slot]!
      const key = keys[slot]
      if (
        namespace.length + key.length === whole.length && whole.startsWith(namespace) && whole.endsWith(key)
      ) return slot
    }
    if (overflow.size === 0) return NONE
    const slot = overflow.get(whole)
    return slot === undefined ? NONE : slot
  }

  const hashIfSafe: HashIfSafe = (namespace, key, safe) => {
    // the key `decideOne` last decided by a hash from here (one busy client): no scan
    const slot = lastSafeSlot
    if (slot !== NONE && safe === lastSafeTable && keys[slot] === key && namespaces[slot] === namespace) {
      return hashes[slot]
    }
    lastSafeTable = safe
    if (namespace !== hashedNamespace) {
      hashedNamespace = namespace
      namespaceState = fnv(seed, namespace)
    }
    let h = namespaceState
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i)
      if (c >= 128 || safe[c] === 0) return Number.NaN
      h = Math.imul(h ^ c, 0x01000193)
    }
    return hasher !== undefined ? hasher(seed, namespace, key) : fmix(h ^ key.length)
  }

  const find = (namespace: string, key: string, hash: number): number => {
    for (let i = hash & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      const cell = cells[i]
      if (cell === 0) break
      const slot = cell - 1
      if (hashes[slot] === hash && keys[slot] === key && namespaces[slot] === namespace) return slot
    }
    if (overflow.size === 0) return NONE
    const slot = overflow.get(namespace + key)
    return slot === undefined ? NONE : slot
  }

  const place = (slot: number): void => {
    for (let i = hashes[slot] & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      if (cells[i] === 0) {
        cells[i] = slot + 1
        return
      }
    }
    overflow.set(namespaces[slot]! + keys[slot], slot)
  }

  const unplace = (slot: number): void => {
    let i = hashes[slot] & mask
    for (let probes = 0;; i = (i + 1) & mask, probes++) {
      if (probes === MAX_PROBES || cells[i] === 0) {
        overflow.delete(namespaces[slot]! + keys[slot])
        return
      }
      if (cells[i] === slot + 1) break
    }
    // Backward-shift deletion: move up every later cell of the run that may
    // sit at i (its home cell is not in (i, j]), so no lookup stops early at
    // the hole, and no probe sequence gets longer.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const cell = cells[j]
      if (cell === 0) break
      const home = hashes[cell - 1] & mask
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue
      cells[i] = cell
      i = j
    }
    cells[i] = 0
  }

  const grow = (): void => {
    const size = Math.min(maxKeys, capacity * 2)
    const grownTats = new Float64Array(size)
    grownTats.set(tats)
    tats = grownTats
    const grownHashes = new Int32Array(size)
    grownHashes.set(hashes)
    hashes = grownHashes
    const grownPrev = new Int32Array(size)
    grownPrev.set(prev)
    prev = grownPrev
    const grownNext = new Int32Array(size)
    grownNext.set(next)
    next = grownNext
    for (let i = capacity; i < size; i++) {
      keys.push("")
      namespaces.push(undefined)
    }
    capacity = size
    const tableSize = tableSizeFor(capacity)
    if (tableSize !== cells.length) {
      cells = new Int32Array(tableSize)
      mask = tableSize - 1
      overflow.clear()
      for (let slot = 0; slot < used; slot++) if (namespaces[slot] !== undefined) place(slot)
    }
  }

  const unlink = (slot: number): void => {
    const p = prev[slot]
    const n = next[slot]
    if (p === NONE) head = n
    else next[p] = n
    if (n === NONE) tail = p
    else prev[n] = p
  }

  const append = (slot: number): void => {
    prev[slot] = tail
    next[slot] = NONE
    if (tail === NONE) head = slot
    else next[tail] = slot
    tail = slot
  }

  const touch = (slot: number): void => {
    if (slot !== tail) {
      unlink(slot)
      append(slot)
    }
  }

  const remove = (slot: number): void => {
    if (slot === lastSlot) lastSlot = NONE
    if (slot === lastSafeSlot) lastSafeSlot = NONE
    unlink(slot)
    unplace(slot)
    size--
    keys[slot] = ""
    namespaces[slot] = undefined
    next[slot] = free
    free = slot
  }

  const insert = (namespace: string, key: string, hash: number, tat: number): number => {
    // evict first, so the arrays never need more than maxKeys slots
    if (size >= maxKeys) remove(head)
    let slot = free
    if (slot !== NONE) free = next[slot]
    else {
      if (used === capacity) grow()
      slot = used++
    }
    keys[slot] = key
    namespaces[slot] = namespace
    tats[slot] = tat
    hashes[slot] = hash
    place(slot)
    size++
    append(slot)
    return slot
  }

  // Idle keys are equivalent to absent ones: drop a few of the least recently
  // used now and then, so the key count follows the live clients, no timer
  // (once full for the grace: see the module comment).
  const sweep = (at: number, limit: number): void => {
    const idleSince = at - IDLE_GRACE_MILLIS
    for (let i = 0; i < limit && head !== NONE && tats[head] <= idleSince; i++) remove(head)
  }
  // Every SWEEP_EVERY committed decisions, one sweep of a few oldest keys.
  const sweepNowAndThen = (at: number): void => {
    if (++sinceSweep >= SWEEP_EVERY) {
      sinceSweep = 0
      sweep(at, SWEEP_SIZE)
    }
  }

  // A plain bucket's key, split where `SplitBucket` says, into this scratch
  // pair (decisions are synchronous).
  let splitNamespace = ""
  let splitKey = ""
  let lastKey = ""
  let lastNamespace = ""
  let lastName = ""
  const split = (bucket: RateLimiterStore.Bucket): void => {
    const namespace = (bucket as Partial<SplitBucket>).namespace
    if (namespace !== undefined) {
      splitNamespace = namespace
      splitKey = bucket.key
      return
    }
    const key = bucket.key
    // the same key string as last time (a caller reusing its buckets): no new slices to hash
    if (key === lastKey) {
      splitNamespace = lastNamespace
      splitKey = lastName
      return
    }
    const bar = key.indexOf("|")
    splitNamespace = bar === -1 ? "" : key.slice(0, bar + 1)
    splitKey = bar === -1 ? key : key.slice(bar + 1)
    lastKey = key
    lastNamespace = splitNamespace
    lastName = splitKey
  }

  const lookup = (bucket: RateLimiterStore.Bucket): number => {
    split(bucket)
    return find(splitNamespace, splitKey, hashOf(splitNamespace, splitKey))
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
      const stored = slot === NONE ? at : tats[slot]
      const tat = stored < at ? at : stored
      const allowAt = tat + (cost - bucket.burstSize) * (1000 / bucket.tokensPerSecond)
      if (allowAt > actAt) {
        actAt = allowAt
        worst = i
      }
    }
    const wait = actAt - at
    if (wait > request.maxWaitMillis + TokenBucket.EPSILON && wait > TokenBucket.EPSILON) {
      // A rejected client is an active one: keep it from being evicted (an
      // evicted bucket would come back full).
      if (commit) {
        for (let i = 0; i < n; i++) if (found[i] !== NONE) touch(found[i])
      }
      const bucket = buckets[worst]
      const slot = found[worst]
      const stored = slot === NONE ? at : tats[slot]
      const debt = stored < at ? 0 : stored - at
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
      const stored = slot === NONE ? at : tats[slot]
      const before = stored < at ? at : stored
      const tat = (before > actAt ? before : actAt) + cost * interval
      if (commit && cost > 0) {
        if (slot === NONE) inserts++
        else {
          tats[slot] = tat
          touch(slot)
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
        split(bucket)
        insert(
          splitNamespace,
          splitKey,
          hashOf(splitNamespace, splitKey),
          actAt + cost * (1000 / bucket.tokensPerSecond)
        )
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
  // without the scratch slots and the second pass; a split bucket's key needs
  // no split, a plain one's is hashed whole (one pass) and split only when it
  // is inserted (~15% of a 1-key decision).
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
    let slot = lastSlot
    let hash = 0
    if (namespace !== undefined) {
      // the key decided last again (one busy client): no hash, no probe
      if (slot === NONE || keys[slot] !== key || namespaces[slot] !== namespace) {
        hash = knownHash === knownHash ? knownHash : hashOf(namespace, key)
        slot = find(namespace, key, hash)
      }
    } else if (slot === NONE || key !== lastWhole) {
      hash = hashOfWhole(key)
      slot = findWhole(key, hash)
    }
    const interval = 1000 / bucket.tokensPerSecond
    const burstSize = bucket.burstSize
    const stored = slot === NONE ? at : tats[slot]
    const before = stored < at ? at : stored
    const allowAt = before + (cost - burstSize) * interval
    const wait = allowAt - at
    if (wait > maxWaitMillis + TokenBucket.EPSILON && wait > TokenBucket.EPSILON) {
      if (slot !== NONE && commit) touch(slot)
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
    const tat = (before > actAt ? before : actAt) + cost * interval
    if (commit) {
      if (cost > 0) {
        if (slot !== NONE) {
          tats[slot] = tat
          touch(slot)
        } else if (namespace !== undefined) slot = insert(namespace, key, hash, tat)
        else {
          const bar = key.indexOf("|")
          slot = insert(key.slice(0, bar + 1), key.slice(bar + 1), hash, tat)
        }
      }
    }
    // remembered before the sweep: a sweep that drops it forgets it
    if (slot !== NONE && (slot !== lastSlot || namespace === undefined)) {
      lastSlot = slot
      lastWhole = namespace === undefined ? key : undefined
    }
    if (knownHash === knownHash) lastSafeSlot = slot
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

  const refund = (
    request: RateLimiterStore.Request,
    decision: RateLimiterStore.Decision,
    at: number
  ): void => {
    const reservation = decision.reservation
    if (reservation === undefined) return
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

  // One fiber-runtime step each, the Clock read from the fiber's services (a
  // TestClock drives it), rather than `clockWith` + `succeed` (two steps). A
  // one-bucket decision is a single sync op reading the fiber that runs it.
  // consume (commit) and peek: the same decision as one Effect, the fiber's
  // Clock read when it runs.
  const decideEffect =
    (commit: boolean) => (request: RateLimiterStore.Request): Effect.Effect<RateLimiterStore.Decision> =>
      request.buckets.length === 1 && singleBucketPath
        ? Effect.sync(() =>
          decideOne(
            request.buckets[0],
            request.cost,
            request.maxWaitMillis,
            now(clockOf(currentFiber())),
            commit,
            Number.NaN
          )
        )
        : Effect.withFiberRuntime((fiber) => Effect.succeed(decide(request, now(clockOf(fiber)), commit)))

  const service: RateLimiterStore.Service & {
    readonly [UnsafeConsume]: UnsafeConsume
    readonly [KeyCount]: () => number
    readonly [HashIfSafe]: HashIfSafe
  } = {
    [HashIfSafe]: hashIfSafe,
    [UnsafeConsume]: (request, clock, hash) =>
      request.buckets.length === 1 && singleBucketPath
        ? decideOne(request.buckets[0], request.cost, request.maxWaitMillis, now(clock), true, hash)
        : decide(request, now(clock), true),
    [KeyCount]: () => size,
    consume: decideEffect(true),
    peek: decideEffect(false),
    refund: (request, decision) =>
      Effect.withFiberRuntime((fiber) => {
        refund(request, decision, now(clockOf(fiber)))
        return Effect.void
      }),
    stats: Effect.withFiberRuntime((fiber) => {
      const at = now(clockOf(fiber))
      for (let slot = head; slot !== NONE;) {
        const following = next[slot]
        if (tats[slot] <= at) remove(slot)
        slot = following
      }
      return Effect.succeed({ keys: Option.some(size), maxKeys: Option.some(maxKeys) })
    })
  }
  return service
}
