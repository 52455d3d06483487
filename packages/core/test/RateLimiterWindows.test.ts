import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, FastCheck as fc, Fiber, Option, TestClock } from "effect"
import { counterValue } from "./utils/metrics.js"

const MINUTE = 60_000
const DAY = 86_400_000

const bucket = (key: string, tokensPerSecond: number, burstSize: number): RateLimiterStore.Bucket => ({
  key,
  tokensPerSecond,
  burstSize
})

const win = (key: string, limit: number, windowMillis: number): RateLimiterStore.Window => ({
  key,
  limit,
  windowMillis
})

const request = (
  buckets: ReadonlyArray<RateLimiterStore.Bucket>,
  windows: ReadonlyArray<RateLimiterStore.Window>,
  cost = 1,
  maxWaitMillis = 0
): RateLimiterStore.Request => ({ buckets, windows, cost, maxWaitMillis })

// A generous bucket, so the windows decide.
const wide = bucket("b", 1000, 1000)

describe("RateLimiterStore windows (memory store)", () => {
  it.effect("a window admits `limit` per epoch-aligned window and resets at the boundary", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory()
      yield* TestClock.adjust(MINUTE - 500) // 500 ms before the first minute ends
      const req = request([wide], [win("w", 2, MINUTE)])
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, limit: 2, remaining: 1, binding: 1 })
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, remaining: 0, resetAfterMillis: 500 })
      expect(yield* store.consume(req)).toMatchObject({
        allowed: false,
        limit: 2,
        remaining: 0,
        retryAfterMillis: 500,
        resetAfterMillis: 500,
        rejectedBy: "w",
        binding: 1
      })
      yield* TestClock.adjust(500) // a new minute: a full window, whatever was used a moment ago
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, remaining: 1, resetAfterMillis: MINUTE })
    }))

  it.effect("all-or-nothing: a call rejected by one window charges neither the other windows nor the buckets", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory()
      const shared = win("shared", 5, MINUTE)
      const b = bucket("b", 1, 10)
      const tight = request([b], [shared, win("tight", 1, DAY)])
      expect((yield* store.consume(tight)).allowed).toBe(true)
      for (let i = 0; i < 3; i++) {
        expect(yield* store.consume(tight)).toMatchObject({ allowed: false, rejectedBy: "tight", binding: 2 })
      }
      // the shared window and the bucket were charged once, by the one admitted call
      expect(yield* store.peek(request([bucket("other", 1000, 1000)], [shared], 0))).toMatchObject({
        remaining: 4,
        binding: 1
      })
      expect(yield* store.peek(request([b], [], 0))).toMatchObject({ remaining: 9 })
    }))

  it.effect("the decision reports the tightest limit; a day window rejects with the time to UTC midnight", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory()
      yield* TestClock.adjust(DAY + 3_600_000) // 01:00 UTC on day 2
      const req = request([bucket("b", 1, 1)], [win("m", 5, MINUTE), win("d", 2, DAY)])
      // bucket (0 left) and day window (1 left): the bucket, first on the fewer remaining
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, binding: 0, remaining: 0 })
      yield* TestClock.adjust(1000)
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, remaining: 0 })
      yield* TestClock.adjust(1000)
      const rejected = yield* store.consume(req)
      expect(rejected).toMatchObject({ allowed: false, binding: 2, limit: 2, remaining: 0, rejectedBy: "d" })
      expect(rejected.retryAfterMillis).toBe(DAY - 3_600_000 - 2000)
    }))

  it.effect("wait mode reserves a place in the next window, and a refund gives it back", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory()
      yield* TestClock.adjust(900)
      const req = request([wide], [win("s", 1, 1000)], 1, 5000)
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, waitMillis: 0 })
      const second = yield* store.consume(req)
      expect(second).toMatchObject({ allowed: true, waitMillis: 100 })
      const third = yield* store.consume(req)
      expect(third).toMatchObject({ allowed: true, waitMillis: 1100 })
      // the third changes its mind: the window of second 2 is free again for the next caller
      yield* store.refund(req, third)
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, waitMillis: 1100 })
      // a wait longer than maxWait is a rejection, charging nothing
      const short = request([wide], [win("s", 1, 1000)], 1, 500)
      expect(yield* store.consume(short)).toMatchObject({ allowed: false, retryAfterMillis: 2100 })
    }))

  it.effect("a window's state is constant per key, and expired windows are swept like refilled buckets", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory({ maxKeys: 1000 })
      for (let i = 0; i < 200; i++) {
        yield* store.consume(request([wide], [win("w", 10_000, DAY)]))
      }
      // one key for the bucket, one for the window: 200 calls, two numbers each
      expect((yield* store.stats).keys).toEqual(Option.some(2))
      yield* TestClock.adjust(DAY + 2000)
      expect((yield* store.stats).keys).toEqual(Option.some(0))
    }))

  const arrival = fc.record({
    advance: fc.constantFrom(0, 0, 0, 1, 7, 130, 450, 999, 1000, 4_000, 20_000),
    cost: fc.constantFrom(1, 1, 1, 2),
    maxWaitMillis: fc.constantFrom(0, 0, 0, 300, 2500),
    which: fc.nat({ max: 2 })
  })

  it.effect.prop(
    "over random arrivals, the cost admitted in any aligned window never exceeds its limit (fail and wait mode)",
    { start: fc.nat({ max: 3 * MINUTE }), arrivals: fc.array(arrival, { minLength: 1, maxLength: 250 }) },
    ({ arrivals, start }) =>
      Effect.gen(function*() {
        const store = yield* RateLimiterStore.makeMemory()
        yield* TestClock.adjust(start)
        let now = start
        const perSecond = win("client@1000ms", 3, 1000)
        const perTen = win("client@10000ms", 7, 10_000)
        const perMinute = win("client@60000ms", 12, MINUTE)
        // three request shapes sharing windows: all three, the minute alone, the 1 s and 10 s ones
        const shapes = [[perSecond, perTen, perMinute], [perMinute], [perSecond, perTen]]
        const counted = new Map<string, number>()
        for (const { advance, cost, maxWaitMillis, which } of arrivals) {
          if (advance > 0) {
            yield* TestClock.adjust(advance)
            now += advance
          }
          const windows = shapes[which]
          const decision = yield* store.consume(request([wide], windows, cost, maxWaitMillis))
          if (!decision.allowed) continue
          expect(decision.waitMillis).toBeLessThanOrEqual(maxWaitMillis)
          const actsAt = now + decision.waitMillis
          for (const w of windows) {
            const slot = `${w.key}#${Math.floor(actsAt / w.windowMillis)}`
            const total = (counted.get(slot) ?? 0) + cost
            counted.set(slot, total)
            expect(total).toBeLessThanOrEqual(w.limit)
          }
        }
      }),
    { fastCheck: { numRuns: 60 } }
  )
})

describe("RateLimiter windows", () => {
  const layer = RateLimiterStore.layerMemory()

  it.effect("a multi-window quota: the binding window is reported, a rejection names it", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "av",
        tokensPerSecond: 1,
        burstSize: 1,
        windows: [{ limit: 25, per: "1 day" }, { limit: 5, per: "1 minute" }]
      })
      expect(limiter.options.windows).toEqual([
        { limit: 5, windowMillis: MINUTE },
        { limit: 25, windowMillis: DAY }
      ])
      const admitted = []
      for (let i = 0; i < 5; i++) {
        admitted.push(yield* limiter.consume("k"))
        yield* TestClock.adjust(1000)
      }
      expect(admitted.every((d) => d.allowed)).toBe(true)
      expect(admitted[4]).toMatchObject({ limit: 1, remaining: 0 })
      const rejected = yield* limiter.consume("k")
      expect(rejected).toMatchObject({ allowed: false, limit: 5, remaining: 0, binding: 1 })
      expect(rejected.window).toEqual(Duration.minutes(1))
      expect(Duration.toMillis(rejected.retryAfter)).toBe(MINUTE - 5000)
      const error = yield* Effect.flip(limiter.acquire("k"))
      expect(error).toMatchObject({ _tag: "RateLimitedError", limit: 5, policy: "client" })
      // another client has its own windows
      expect((yield* limiter.consume("other")).allowed).toBe(true)
    }).pipe(Effect.provide(layer)))

  it.effect("a rejection by a window is counted with its window label; a bucket's without one", () =>
    Effect.gen(function*() {
      const name = "windows-metrics"
      const limiter = yield* RateLimiter.make({
        name,
        tokensPerSecond: 1,
        burstSize: 1,
        windows: [{ limit: 1, per: "1 hour" }]
      })
      const rejected = (extra: Record<string, string>) =>
        counterValue("resilience_rate_limiter_decisions_total", "rate_limiter", name, { outcome: "rejected", ...extra })
      yield* limiter.consume("k")
      yield* limiter.consume("k") // the bucket (empty for a second) and the hour (full): the hour waits longer
      yield* TestClock.adjust(1000)
      yield* limiter.consume("k")
      expect(yield* rejected({ window: "1h" })).toBe(2)
      expect(yield* rejected({})).toBe(0)
      // a roomy window: the bucket refuses, and the rejection has no window label
      const roomy = yield* RateLimiter.make({
        name: `${name}-roomy`,
        tokensPerSecond: 1,
        burstSize: 1,
        windows: [{ limit: 100, per: "1 hour" }]
      })
      yield* roomy.consume("k")
      const byBucket = yield* roomy.consume("k")
      expect(byBucket.window).toBeUndefined()
      expect(
        yield* counterValue("resilience_rate_limiter_decisions_total", "rate_limiter", `${name}-roomy`, {
          outcome: "rejected"
        })
      ).toBe(1)
    }).pipe(Effect.provide(layer)))

  it.effect("wait mode sleeps into the next window; an interrupted waiter gives its place back", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "poly",
        tokensPerSecond: 100,
        mode: "wait",
        maxWait: "2 minutes",
        windows: [{ limit: 1, per: "1 minute" }]
      })
      yield* limiter.acquire()
      const waiter = yield* Effect.fork(limiter.acquire())
      yield* TestClock.adjust(1000)
      yield* Fiber.interrupt(waiter)
      const next = yield* Effect.fork(limiter.acquire())
      yield* TestClock.adjust(MINUTE - 1000)
      const decision = yield* Fiber.join(next)
      expect(Duration.toMillis(decision.wait)).toBe(MINUTE - 1000)
    }).pipe(Effect.provide(layer)))

  it.effect.prop(
    "the memory store's synchronous path decides windows exactly like the store's interface",
    {
      ops: fc.array(
        fc.record({
          key: fc.constantFrom(undefined, "a", "b", "x".repeat(300)),
          cost: fc.constantFrom(0, 1, 1, 2),
          advance: fc.constantFrom(0, 0, 0, 250, 999, 4000, 30_000)
        }),
        { minLength: 1, maxLength: 120 }
      )
    },
    ({ ops }) =>
      Effect.gen(function*() {
        const options: RateLimiter.Options = {
          name: "same",
          tokensPerSecond: 2,
          burstSize: 3,
          global: { tokensPerSecond: 5, burstSize: 6 },
          windows: [{ limit: 4, per: "1 second" }, { limit: 9, per: "10 seconds" }]
        }
        const fast = yield* RateLimiter.make(options).pipe(Effect.provide(layer))
        const store = yield* RateLimiterStore.makeMemory()
        // the interface alone: no synchronous path to find
        const plain: RateLimiterStore.Service = {
          consume: store.consume,
          peek: store.peek,
          refund: store.refund,
          stats: store.stats
        }
        const reference = yield* RateLimiter.make(options).pipe(
          Effect.provideService(RateLimiterStore.RateLimiterStore, plain)
        )
        expect(typeof RateLimiter.unsafeConsumeOf(fast)).toBe("function")
        expect(RateLimiter.unsafeConsumeOf(reference)).toBeUndefined()
        for (const { advance, cost, key } of ops) {
          if (advance > 0) yield* TestClock.adjust(advance)
          const a = yield* fast.consume(key, { cost })
          const b = yield* reference.consume(key, { cost })
          expect(a).toEqual(b)
        }
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("invalid windows are typed errors naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[RateLimiter.Options, string]> = [
        [{ name: "x", tokensPerSecond: 1, windows: [{ limit: 0, per: "1 minute" }] }, "windows.0.limit"],
        [{ name: "x", tokensPerSecond: 1, windows: [{ limit: 1, per: "1.5 millis" }] }, "windows.0.per"],
        [{ name: "x", tokensPerSecond: 1, windows: [{ limit: 1, per: "400 days" }] }, "windows.0.per"],
        [
          { name: "x", tokensPerSecond: 1, windows: [{ limit: 1, per: "1 minute" }, { limit: 2, per: "60 seconds" }] },
          "windows"
        ],
        [{ name: "x", tokensPerSecond: 10, cost: 3, windows: [{ limit: 2, per: "1 minute" }] }, "cost"]
      ]
      for (const [options, option] of cases) {
        const result = yield* Effect.either(RateLimiter.make(options))
        expect(Either.isLeft(result) && result.left.option).toBe(option)
      }
      const exit = yield* Effect.exit(RateLimiter.make({ name: "x", tokensPerSecond: 1, windows: [] }))
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.provide(layer)))
})
