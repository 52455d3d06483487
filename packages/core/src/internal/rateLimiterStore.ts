/**
 * The in-memory `RateLimiterStore`: GCRA token buckets, one number per key
 * (the time the bucket is full again), in a `Map` plus a doubly linked list
 * in least-recently-used order (O(1) touch and eviction).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RateLimiterStore from "../RateLimiterStore.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as TokenBucket from "./tokenBucket.js"
import * as validate from "./validate.js"

const POLICY = "RateLimiterStore"

/** Every this many decisions, look at the oldest keys and drop the idle ones. @internal */
const SWEEP_EVERY = 32
/** How many of the oldest keys one sweep looks at, at most. @internal */
const SWEEP_SIZE = 4

/**
 * The memory store's synchronous decision, for `RateLimiter`'s fast path: with
 * the Clock in hand, one decision needs no Effect of its own.
 *
 * @internal
 */
export const UnsafeConsume: unique symbol = Symbol.for("@effect-resilience/core/RateLimiterStore/unsafeConsume")

/** @internal */
export type UnsafeConsume = (request: RateLimiterStore.Request, clock: Clock.Clock) => RateLimiterStore.Decision

/** @internal */
export const unsafeConsumeOf = (store: RateLimiterStore.Service): UnsafeConsume | undefined =>
  (store as { readonly [UnsafeConsume]?: UnsafeConsume })[UnsafeConsume]

/** @internal */
export const makeMemory = (
  options?: RateLimiterStore.MemoryOptions | undefined
): Effect.Effect<RateLimiterStore.Service, InvalidOptionsError> =>
  Effect.map(
    validate.positiveInt(POLICY, "maxKeys", options?.maxKeys, 100_000),
    (maxKeys) => unsafeMakeMemory(maxKeys)
  )

/**
 * One key's bucket, linked into the least-recently-used list. A linked list
 * rather than `Map` re-insertion: touching a key is a few pointer writes (no
 * `Map` delete + set), and eviction reads the head in O(1) (iterating a `Map`
 * from its start skips every deleted slot, which a flood makes quadratic).
 *
 * @internal
 */
class Entry {
  prev: Entry | undefined = undefined
  next: Entry | undefined = undefined
  constructor(readonly key: string, public tat: number) {}
}

/** @internal */
export const unsafeMakeMemory = (maxKeys: number): RateLimiterStore.Service => {
  // Times are kept relative to the first clock reading: epoch milliseconds
  // (~1.7e12) leave only ~0.2 µs of double precision for fractional tokens.
  let origin = Number.NaN
  const entries = new Map<string, Entry>()
  let head: Entry | undefined = undefined // least recently used
  let tail: Entry | undefined = undefined // most recently used
  let sinceSweep = 0

  const now = (clock: Clock.Clock): number => {
    const t = clock.unsafeCurrentTimeMillis()
    if (origin !== origin) origin = t
    return t - origin
  }

  const unlink = (entry: Entry): void => {
    if (entry.prev === undefined) head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === undefined) tail = entry.prev
    else entry.next.prev = entry.prev
    entry.prev = entry.next = undefined
  }

  const append = (entry: Entry): void => {
    entry.prev = tail
    if (tail === undefined) head = entry
    else tail.next = entry
    tail = entry
  }

  const touch = (entry: Entry): void => {
    if (entry !== tail) {
      unlink(entry)
      append(entry)
    }
  }

  const remove = (entry: Entry): void => {
    unlink(entry)
    entries.delete(entry.key)
  }

  const insert = (key: string, tat: number): void => {
    const created = new Entry(key, tat)
    entries.set(key, created)
    append(created)
    if (entries.size > maxKeys) remove(head!)
  }

  // Idle keys are equivalent to absent ones: drop a few of the least recently
  // used now and then, so the key count follows the live clients, no timer.
  const sweep = (at: number, limit: number): void => {
    for (let i = 0; i < limit && head !== undefined && head.tat <= at; i++) remove(head)
  }

  // The entries of the current decision's buckets, looked up once (decisions
  // are synchronous, so one scratch array serves them all).
  const found: Array<Entry | undefined> = []

  const decide = (request: RateLimiterStore.Request, at: number, commit: boolean): RateLimiterStore.Decision => {
    const buckets = request.buckets
    const cost = request.cost
    const n = buckets.length
    // Pass 1: when may the call act? (the latest allowAt over the buckets)
    let actAt = at
    let worst = 0
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const entry = entries.get(bucket.key)
      found[i] = entry
      const tat = entry === undefined || entry.tat < at ? at : entry.tat
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
        for (let i = 0; i < n; i++) {
          const entry = found[i]
          if (entry !== undefined) touch(entry)
        }
      }
      const bucket = buckets[worst]
      const entry = found[worst]
      const debt = entry === undefined || entry.tat < at ? 0 : entry.tat - at
      found.fill(undefined)
      return {
        allowed: false,
        waitMillis: 0,
        limit: bucket.burstSize,
        remaining: TokenBucket.remaining(debt, 1000 / bucket.tokensPerSecond, bucket.burstSize),
        resetAfterMillis: TokenBucket.ceilMillis(debt),
        retryAfterMillis: TokenBucket.ceilMillis(wait),
        rejectedBy: bucket.key,
        reservation: undefined
      }
    }
    if (wait <= TokenBucket.EPSILON) actAt = at
    const waitMillis = TokenBucket.ceilMillis(actAt - at)
    const reservation: Array<number> | undefined = waitMillis > 0 && commit ? new Array(2 * n) : undefined
    // Pass 2: charge every bucket as of actAt, and report the tightest one.
    let binding = 0
    let bindingRemaining = Infinity
    let bindingTat = at
    for (let i = 0; i < n; i++) {
      const bucket = buckets[i]
      const interval = 1000 / bucket.tokensPerSecond
      const entry = found[i]
      found[i] = undefined
      const before = entry === undefined || entry.tat < at ? at : entry.tat
      const tat = (before > actAt ? before : actAt) + cost * interval
      if (commit && cost > 0) {
        if (entry === undefined) insert(bucket.key, tat)
        else {
          entry.tat = tat
          touch(entry)
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
    if (commit && ++sinceSweep >= SWEEP_EVERY) {
      sinceSweep = 0
      sweep(at, SWEEP_SIZE)
    }
    return {
      allowed: true,
      waitMillis,
      limit: buckets[binding].burstSize,
      remaining: bindingRemaining,
      resetAfterMillis: TokenBucket.ceilMillis(bindingTat - at),
      retryAfterMillis: 0,
      rejectedBy: undefined,
      reservation
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
      const entry = entries.get(buckets[i].key)
      // Only the last reservation of a bucket can be undone: tokens behind a
      // later reservation are already promised to it.
      if (entry === undefined || Math.abs(entry.tat - reservation[2 * i + 1]) > TokenBucket.EPSILON) continue
      const before = reservation[2 * i]
      if (before <= at) remove(entry)
      else entry.tat = before
    }
  }

  const service: RateLimiterStore.Service & { readonly [UnsafeConsume]: UnsafeConsume } = {
    [UnsafeConsume]: (request, clock) => decide(request, now(clock), true),
    consume: (request) => Effect.clockWith((clock) => Effect.succeed(decide(request, now(clock), true))),
    peek: (request) => Effect.clockWith((clock) => Effect.succeed(decide(request, now(clock), false))),
    refund: (request, decision) =>
      Effect.clockWith((clock) => Effect.sync(() => refund(request, decision, now(clock)))),
    stats: Effect.clockWith((clock) =>
      Effect.sync(() => {
        const at = now(clock)
        for (const entry of entries.values()) if (entry.tat <= at) remove(entry)
        return { keys: Option.some(entries.size), maxKeys: Option.some(maxKeys) }
      })
    )
  }
  return service
}
