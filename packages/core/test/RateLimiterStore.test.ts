import { RateLimiterStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Option, TestClock } from "effect"
import * as StoreInternal from "../src/internal/rateLimiterStore.js"

const bucket = (key: string, tokensPerSecond: number, burstSize: number): RateLimiterStore.Bucket => ({
  key,
  tokensPerSecond,
  burstSize
})

const request = (
  buckets: ReadonlyArray<RateLimiterStore.Bucket>,
  cost = 1,
  maxWaitMillis = 0
): RateLimiterStore.Request => ({ buckets, cost, maxWaitMillis })

// every ASCII character passes the one-pass check
const everySafe = new Uint8Array(128).fill(1)

const memory = (maxKeys?: number) => RateLimiterStore.makeMemory(maxKeys === undefined ? undefined : { maxKeys })

describe("RateLimiterStore.layerMemory", () => {
  it.effect("admits a burst, then refills continuously, with exact retryAfter and resetAfter", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("a", 4, 3) // one token every 250 ms
      const first = yield* store.consume(request([b]))
      expect(first).toMatchObject({ allowed: true, waitMillis: 0, limit: 3, remaining: 2, resetAfterMillis: 250 })
      yield* store.consume(request([b]))
      const third = yield* store.consume(request([b]))
      expect(third).toMatchObject({ allowed: true, remaining: 0, resetAfterMillis: 750, retryAfterMillis: 0 })
      const rejected = yield* store.consume(request([b]))
      expect(rejected).toMatchObject({
        allowed: false,
        limit: 3,
        remaining: 0,
        retryAfterMillis: 250,
        resetAfterMillis: 750,
        rejectedBy: "a"
      })
      yield* TestClock.adjust(249)
      expect((yield* store.consume(request([b]))).retryAfterMillis).toBe(1)
      yield* TestClock.adjust(1)
      expect(yield* store.consume(request([b]))).toMatchObject({ allowed: true, remaining: 0 })
    }))

  it.effect("retryAfter is rounded up to the millisecond for fractional refill times", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("third", 3, 1) // 333.33… ms per token
      expect((yield* store.consume(request([b]))).allowed).toBe(true)
      expect((yield* store.consume(request([b]))).retryAfterMillis).toBe(334)
      yield* TestClock.adjust(333)
      expect((yield* store.consume(request([b]))).retryAfterMillis).toBe(1)
      yield* TestClock.adjust(1)
      expect((yield* store.consume(request([b]))).allowed).toBe(true)
    }))

  it.effect("a cost takes that many tokens and waits for that many", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("c", 10, 10)
      expect(yield* store.consume(request([b], 7))).toMatchObject({ allowed: true, remaining: 3 })
      expect(yield* store.consume(request([b], 5))).toMatchObject({
        allowed: false,
        remaining: 3,
        retryAfterMillis: 200
      })
      expect(yield* store.consume(request([b], 3))).toMatchObject({ allowed: true, remaining: 0 })
    }))

  it.effect("peek decides without charging", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("p", 1, 2)
      expect(yield* store.peek(request([b], 2))).toMatchObject({ allowed: true, remaining: 0 })
      expect(yield* store.peek(request([b], 0))).toMatchObject({ allowed: true, remaining: 2 })
      yield* store.consume(request([b], 2))
      expect(yield* store.peek(request([b], 1))).toMatchObject({ allowed: false, retryAfterMillis: 1000 })
      expect(yield* store.peek(request([b], 0))).toMatchObject({ allowed: true, remaining: 0, resetAfterMillis: 2000 })
    }))

  it.effect("all-or-nothing: a call rejected by one bucket charges none of them", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const global = bucket("g", 1, 3)
      const client = bucket("k", 1, 1)
      expect((yield* store.consume(request([client, global]))).allowed).toBe(true)
      // The client bucket is empty: rejected, and the global bucket keeps its 2 tokens.
      const rejected = yield* store.consume(request([client, global]))
      expect(rejected).toMatchObject({ allowed: false, rejectedBy: "k", limit: 1 })
      expect(yield* store.peek(request([global], 0))).toMatchObject({ remaining: 2 })
      // Empty the global bucket through other clients; then a fresh client is
      // rejected by it and keeps its own token.
      yield* store.consume(request([bucket("k2", 1, 5), global], 2))
      const other = bucket("k3", 1, 5)
      expect(yield* store.consume(request([other, global]))).toMatchObject({ allowed: false, rejectedBy: "g" })
      expect(yield* store.peek(request([other], 0))).toMatchObject({ remaining: 5 })
    }))

  it.effect("reports the tightest bucket when admitted", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const decision = yield* store.consume(request([bucket("k", 1, 10), bucket("g", 1, 2)]))
      expect(decision).toMatchObject({ allowed: true, limit: 2, remaining: 1 })
    }))

  it.effect("wait mode reserves in order, goes into debt up to maxWait, and rejects beyond it", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("w", 10, 1) // 100 ms per token
      const waits: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const decision = yield* store.consume(request([b], 1, 400))
        expect(decision.allowed).toBe(true)
        waits.push(decision.waitMillis)
      }
      expect(waits).toEqual([0, 100, 200, 300, 400])
      const over = yield* store.consume(request([b], 1, 400))
      expect(over).toMatchObject({ allowed: false, waitMillis: 0, retryAfterMillis: 500 })
      yield* TestClock.adjust(100)
      expect((yield* store.consume(request([b], 1, 400))).waitMillis).toBe(400)
    }))

  it.effect("wait mode charges every bucket as of the moment the caller acts", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const client = bucket("k", 1, 1)
      const global = bucket("g", 10, 1)
      // Global in debt for 1 s; the client's bucket is full.
      for (let i = 0; i < 11; i++) yield* store.consume(request([bucket(`o${i}`, 1, 1), global], 1, 2000))
      const decision = yield* store.consume(request([client, global], 1, 2000))
      expect(decision.waitMillis).toBe(1100)
      // The client's token is taken at 1100 ms, so its next one is due at 2100 ms.
      const next = yield* store.consume(request([client], 1, 5000))
      expect(next.waitMillis).toBe(2100)
    }))

  it.effect("refund gives the last reservation back, so the next caller takes its place", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("r", 10, 1)
      yield* store.consume(request([b], 1, 1000))
      const second = yield* store.consume(request([b], 1, 1000))
      expect(second.waitMillis).toBe(100)
      yield* TestClock.adjust(30)
      yield* store.refund(request([b], 1, 1000), second)
      expect((yield* store.consume(request([b], 1, 1000))).waitMillis).toBe(70)
    }))

  it.effect("refund of a reservation with later ones behind it gives nothing back", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const b = bucket("r", 10, 1)
      yield* store.consume(request([b], 1, 1000))
      const second = yield* store.consume(request([b], 1, 1000))
      const third = yield* store.consume(request([b], 1, 1000))
      expect(third.waitMillis).toBe(200)
      yield* store.refund(request([b], 1, 1000), second)
      // The third caller still acts at 200 ms: the next slot stays at 300 ms.
      expect((yield* store.consume(request([b], 1, 1000))).waitMillis).toBe(300)
      // A decision without a reservation is a no-op.
      yield* store.refund(request([b]), { ...third, reservation: undefined })
      expect((yield* store.consume(request([b], 1, 1000))).waitMillis).toBe(400)
    }))

  it.effect("idle keys (refilled to full) are dropped", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      for (let i = 0; i < 100; i++) yield* store.consume(request([bucket(`idle-${i}`, 10, 5)]))
      expect((yield* store.stats).keys).toEqual(Option.some(100))
      yield* TestClock.adjust(99)
      expect((yield* store.stats).keys).toEqual(Option.some(100))
      yield* TestClock.adjust(1)
      expect(yield* store.stats).toEqual({ keys: Option.some(0), maxKeys: Option.some(100_000) })
    }))

  it.effect("the lazy sweep drops a full key only once it has been full for the grace", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const keyCount = () => StoreInternal.unsafeKeyCountOf(store)
      // 100 keys, each full again 100 ms after its call
      for (let i = 0; i < 100; i++) yield* store.consume(request([bucket(`idle-${i}`, 10, 5)]))
      const live = request([bucket("live", 1e6, 1e6)])
      const decide = (n: number) => Effect.repeatN(store.consume(live), n - 1)
      yield* TestClock.adjust(100 + StoreInternal.IDLE_GRACE_MILLIS - 1)
      // full, but for less than the grace: every sweep keeps them
      yield* decide(2000)
      expect(keyCount()).toBe(101)
      yield* TestClock.adjust(1)
      // full for the grace: 4 keys per 32 decisions go (the live key stays)
      yield* decide(32 * 10)
      expect(keyCount()).toBe(61)
      yield* decide(32 * 15)
      expect(keyCount()).toBe(1)
    }))

  it.effect("stats reports only live keys, even before the grace has passed", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      for (let i = 0; i < 10; i++) yield* store.consume(request([bucket(`k-${i}`, 10, 5)]))
      yield* store.consume(request([bucket("slow", 1, 5)]))
      yield* TestClock.adjust(100)
      expect(StoreInternal.unsafeKeyCountOf(store)).toBe(11)
      expect((yield* store.stats).keys).toEqual(Option.some(1))
      expect(StoreInternal.unsafeKeyCountOf(store)).toBe(1)
    }))

  it.effect("evicts the least recently used key past maxKeys", () =>
    Effect.gen(function*() {
      const store = yield* memory(3)
      const b = (key: string) => bucket(key, 1, 1)
      for (const key of ["a", "b", "c"]) yield* store.consume(request([b(key)]))
      yield* store.peek(request([b("a")])) // a peek is not a use
      yield* store.consume(request([b("a")])) // rejected, but a use: "a" is now the most recent
      yield* store.consume(request([b("d")])) // evicts "b"
      expect((yield* store.stats).keys).toEqual(Option.some(3))
      expect((yield* store.consume(request([b("a")]))).allowed).toBe(false)
      expect((yield* store.consume(request([b("b")]))).allowed).toBe(true) // forgotten: full again
      expect((yield* store.consume(request([b("d")]))).allowed).toBe(false)
    }))

  it.effect("a flood of 1,000,000 distinct keys keeps the key count at its bound", () =>
    Effect.gen(function*() {
      const store = yield* memory(10_000)
      const b: { key: string; tokensPerSecond: number; burstSize: number } = {
        key: "",
        tokensPerSecond: 1,
        burstSize: 5
      }
      const req = request([b])
      let admitted = 0
      for (let i = 0; i < 1_000_000; i++) {
        b.key = `flood-${i}`
        if ((yield* store.consume(req)).allowed) admitted++
        if (i % 250_000 === 0) expect(Option.getOrThrow((yield* store.stats).keys)).toBeLessThanOrEqual(10_000)
      }
      expect(admitted).toBe(1_000_000)
      expect((yield* store.stats).keys).toEqual(Option.some(10_000))
    }))

  it.effect("hostile keys used directly are safe and stay distinct; rejections name the key as given", () =>
    Effect.gen(function*() {
      const store = yield* memory()
      const hostile = [
        "}{",
        "{tag}",
        "with space",
        "new\nline\r\n*1\r\n$4\r\nPING",
        "\u0000nul",
        "é✓🚀",
        "x".repeat(100_000),
        "x".repeat(100_001),
        "",
        RateLimiterStore.storeKey("{tag}") // a key shaped like another's stored form is still its own
      ]
      for (const key of hostile) {
        const b = [bucket(key, 0.001, 1)]
        expect((yield* store.consume(request(b))).allowed).toBe(true)
        const again = yield* store.consume(request(b))
        expect(again).toMatchObject({ allowed: false, rejectedBy: key })
        expect((yield* store.consume(request([bucket(key, 0.001, 1), bucket("g", 1000, 1000)]))).rejectedBy).toBe(key)
      }
      // one bucket per key ("g" was never charged: every call with it was rejected)
      expect((yield* store.stats).keys).toEqual(Option.some(hostile.length))
    }))

  it.effect("maxKeys must be an integer >= 1", () =>
    Effect.gen(function*() {
      for (const maxKeys of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(RateLimiterStore.makeMemory({ maxKeys }))
        expect(error).toMatchObject({ _tag: "InvalidOptionsError", policy: "RateLimiterStore", option: "maxKeys" })
      }
      const fromLayer = yield* Effect.flip(
        Effect.provide(RateLimiterStore.RateLimiterStore, RateLimiterStore.layerMemory({ maxKeys: 0 }))
      )
      expect(fromLayer).toMatchObject({ _tag: "InvalidOptionsError", option: "maxKeys" })
    }))

  it("RateLimiterStoreError names the store and the reason", () => {
    const error = new RateLimiterStore.RateLimiterStoreError({ store: "redis", reason: "timeout after 50 ms" })
    expect(error._tag).toBe("RateLimiterStoreError")
    expect(error.message).toBe("Rate limiter store \"redis\" failed: timeout after 50 ms")
  })
})

// A reference model: one GCRA bucket per key in a plain Map (re-inserted on
// every touch, so its iteration order is least-recently-used first).
const EPS = 1e-6
const modelRemaining = (debt: number, interval: number, burst: number) =>
  debt <= 0 ? burst : Math.max(0, Math.floor(burst - debt / interval + 1e-9))

describe("RateLimiterStore.layerMemory against a model", () => {
  const op = fc.record({ key: fc.nat({ max: 11 }), advance: fc.constantFrom(0, 0, 0, 40, 250, 1000) })

  it.effect.prop(
    "decisions match a per-key GCRA model, as keys go idle, are swept and come back",
    { ops: fc.array(op, { minLength: 1, maxLength: 300 }) },
    ({ ops }) =>
      Effect.gen(function*() {
        const store = yield* memory(1000)
        const model = new Map<string, number>()
        let now = 0
        const interval = 1000 / 5
        for (const { advance, key } of ops) {
          if (advance > 0) {
            yield* TestClock.adjust(advance)
            now += advance
          }
          const name = `k${key}`
          const decision = yield* store.consume(request([bucket(name, 5, 3)]))
          const tat = Math.max(model.get(name) ?? now, now)
          const allowed = tat + (1 - 3) * interval - now <= EPS
          if (allowed) model.set(name, tat + interval)
          expect(decision.allowed).toBe(allowed)
          expect(decision.remaining).toBe(modelRemaining((allowed ? tat + interval : tat) - now, interval, 3))
        }
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "the synchronous single-bucket path decides exactly like consume (rejections and reservations included)",
    {
      ops: fc.array(
        fc.record({
          key: fc.nat({ max: 5 }),
          cost: fc.constantFrom(0.5, 1, 2, 3),
          maxWaitMillis: fc.constantFrom(0, 0, 150, 1000),
          advance: fc.constantFrom(0, 0, 0, 0, 0, 0, 30, 250, 1500)
        }),
        { minLength: 30, maxLength: 100 }
      )
    },
    ({ ops }) =>
      Effect.gen(function*() {
        const fast = yield* memory(4)
        const reference = StoreInternal.unsafeMakeMemory(4, undefined, false)
        const unsafeConsume = StoreInternal.unsafeConsumeOf(fast)!
        const hashIfSafe = StoreInternal.hashIfSafeOf(fast)!
        for (const { advance, cost, key, maxWaitMillis } of ops) {
          if (advance > 0) yield* TestClock.adjust(advance)
          const split = { namespace: "ns|", key: `k${key}`, tokensPerSecond: 5, burstSize: 3 }
          const decision = yield* Effect.withFiberRuntime((fiber) =>
            Effect.sync(() =>
              unsafeConsume({ buckets: [split], cost, maxWaitMillis }, fiber, hashIfSafe("ns|", split.key, everySafe))
            )
          )
          const expected = yield* reference.consume(request([bucket(`ns|k${key}`, 5, 3)], cost, maxWaitMillis))
          expect(decision).toEqual(expected)
        }
        expect(yield* fast.stats).toEqual(yield* reference.stats)
      }),
    { fastCheck: { numRuns: 25 } }
  )

  it("the one-pass hash is NaN exactly when a character is not marked safe", () => {
    const hashIfSafe = StoreInternal.hashIfSafeOf(StoreInternal.unsafeMakeMemory(4))!
    const digits = new Uint8Array(128)
    for (let c = 48; c < 58; c++) digits[c] = 1
    expect(Number.isInteger(hashIfSafe("ns|", "0123", digits))).toBe(true)
    expect(hashIfSafe("ns|", "01a3", digits)).toBeNaN()
    expect(hashIfSafe("ns|", "01\u00e93", everySafe)).toBeNaN()
    expect(hashIfSafe("ns|", "0123", digits)).toBe(hashIfSafe("ns|", "0123", everySafe))
    expect(hashIfSafe("ns|", "0123", digits)).not.toBe(hashIfSafe("ms|", "0123", digits))
  })

  it.effect.prop(
    "a plain one-bucket consume or peek decides exactly like the general path (keys with and without a namespace)",
    {
      hasher: fc.constantFrom<StoreInternal.KeyHasher | undefined>(
        undefined,
        (_seed, _namespace, key) => -1 - (key.length & 3)
      ),
      ops: fc.array(
        fc.record({
          // "" and "|" included: an empty key, an empty namespace part and an empty key part
          key: fc.constantFrom("", "|", "a", "a|", "|a", "ns|k0", "ns|k1", "ns|k2", "ns2|k0", "k0", "x|y|z"),
          split: fc.boolean(),
          peek: fc.boolean(),
          cost: fc.constantFrom(0, 0.5, 1, 2, 3),
          maxWaitMillis: fc.constantFrom(0, 0, 150, 1000),
          advance: fc.constantFrom(0, 0, 0, 0, 0, 0, 30, 250, 1500)
        }),
        { minLength: 30, maxLength: 120 }
      )
    },
    ({ hasher, ops }) =>
      Effect.gen(function*() {
        const fast = StoreInternal.unsafeMakeMemory(4, hasher)
        const reference = StoreInternal.unsafeMakeMemory(4, undefined, false)
        const unsafeConsume = StoreInternal.unsafeConsumeOf(fast)!
        for (const { advance, cost, key, maxWaitMillis, peek, split } of ops) {
          if (advance > 0) yield* TestClock.adjust(advance)
          const req = request([bucket(key, 5, 3)], cost, maxWaitMillis)
          const bar = key.indexOf("|")
          const decision = peek
            ? yield* fast.peek(req)
            // RateLimiter splits only keys that are store keys already ("" is not: a plain one is hashed)
            : split && cost > 0 && RateLimiterStore.storeKey(key) === key
            ? yield* Effect.withFiberRuntime((fiber) =>
              Effect.sync(() =>
                unsafeConsume(
                  {
                    ...req,
                    buckets: [{
                      namespace: key.slice(0, bar + 1),
                      key: key.slice(bar + 1),
                      tokensPerSecond: 5,
                      burstSize: 3
                    }]
                  },
                  fiber,
                  Number.NaN
                )
              )
            )
            : cost > 0
            ? yield* fast.consume(req)
            : yield* fast.peek(req)
          expect(decision).toEqual(yield* (peek || cost === 0 ? reference.peek(req) : reference.consume(req)))
          expect(StoreInternal.unsafeKeyCountOf(fast)).toBe(StoreInternal.unsafeKeyCountOf(reference))
        }
        expect(yield* fast.stats).toEqual(yield* reference.stats)
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "an index whose keys all collide decides exactly like the seeded one (past the probe cap, evicting, sweeping)",
    {
      // the last cells of the table: probe runs wrap around its end
      hasher: fc.constantFrom<StoreInternal.KeyHasher>(() => -1, (_seed, _namespace, key) => -1 - (key.length & 3)),
      ops: fc.array(
        fc.record({
          key: fc.nat({ max: 499 }),
          split: fc.boolean(),
          advance: fc.oneof(
            { weight: 18, arbitrary: fc.constant(0) },
            { weight: 1, arbitrary: fc.constantFrom(100, 1500) }
          )
        }),
        { minLength: 700, maxLength: 900 }
      )
    },
    ({ hasher, ops }) =>
      Effect.gen(function*() {
        const colliding = StoreInternal.unsafeMakeMemory(300, hasher)
        const seeded = StoreInternal.unsafeMakeMemory(300, undefined, false)
        const fast = StoreInternal.unsafeConsumeOf(colliding)!
        const hashIfSafe = StoreInternal.hashIfSafeOf(colliding)!
        for (const { advance, key, split } of ops) {
          if (advance > 0) yield* TestClock.adjust(advance)
          const req = request([bucket(`ns|k${key}`, 5, 2)])
          const decision = split
            ? yield* Effect.withFiberRuntime((fiber) =>
              Effect.sync(() =>
                fast(
                  { ...req, buckets: [{ namespace: "ns|", key: `k${key}`, tokensPerSecond: 5, burstSize: 2 }] },
                  fiber,
                  // the hash from the one-pass check half the time
                  key % 2 === 0 ? hashIfSafe("ns|", `k${key}`, everySafe) : Number.NaN
                )
              )
            )
            : yield* colliding.consume(req)
          expect(decision).toEqual(yield* seeded.consume(req))
          expect(StoreInternal.unsafeKeyCountOf(colliding)).toBe(StoreInternal.unsafeKeyCountOf(seeded))
        }
        expect(yield* colliding.stats).toEqual(yield* seeded.stats)
      }),
    { fastCheck: { numRuns: 5 } }
  )

  it.effect.prop(
    "the key count never exceeds maxKeys, whatever the requests (several buckets, waits, refunds, peeks)",
    {
      maxKeys: fc.integer({ min: 1, max: 8 }),
      ops: fc.array(
        fc.record({
          keys: fc.array(fc.nat({ max: 19 }), { minLength: 1, maxLength: 3 }),
          op: fc.constantFrom("consume", "consume", "wait", "peek", "refund"),
          advance: fc.constantFrom(0, 0, 0, 50, 2000)
        }),
        { minLength: 1, maxLength: 150 }
      )
    },
    ({ maxKeys, ops }) =>
      Effect.gen(function*() {
        const store = yield* memory(maxKeys)
        for (const { advance, keys, op } of ops) {
          if (advance > 0) yield* TestClock.adjust(advance)
          const req = request(keys.map((k) => bucket(`ns|k${k}`, 10, 2)), 1, op === "peek" ? 0 : 500)
          if (op === "peek") yield* store.peek(req)
          else {
            const decision = yield* store.consume(op === "consume" ? { ...req, maxWaitMillis: 0 } : req)
            if (op === "refund") yield* store.refund(req, decision)
          }
          expect(StoreInternal.unsafeKeyCountOf(store)).toBeLessThanOrEqual(maxKeys)
        }
        expect(Option.getOrThrow((yield* store.stats).keys)).toBeLessThanOrEqual(maxKeys)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect.prop(
    "past maxKeys the least recently used key is evicted (a rejected key counts as used)",
    {
      keys: fc.array(fc.nat({ max: 9 }), { minLength: 1, maxLength: 200 }),
      maxKeys: fc.integer({ min: 1, max: 6 })
    },
    ({ keys, maxKeys }) =>
      Effect.gen(function*() {
        // no time passes: no key is ever idle, so only eviction forgets one
        const store = yield* memory(maxKeys)
        const used = new Map<string, number>() // key -> tokens taken, in LRU order
        for (const key of keys) {
          const name = `k${key}`
          const decision = yield* store.consume(request([bucket(name, 1, 2)]))
          const taken = used.get(name) ?? 0
          used.delete(name)
          expect(decision.allowed).toBe(taken < 2)
          used.set(name, Math.min(taken + 1, 2))
          if (used.size > maxKeys) used.delete(used.keys().next().value!)
        }
        expect((yield* store.stats).keys).toEqual(Option.some(used.size))
      }),
    { fastCheck: { numRuns: 60 } }
  )
})
