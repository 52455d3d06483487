import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Metric,
  MetricLabel,
  Option,
  TestClock
} from "effect"

const provideMemory = <A, E, R>(self: Effect.Effect<A, E, R>, maxKeys?: number) =>
  Effect.provide(self, RateLimiterStore.layerMemory(maxKeys === undefined ? undefined : { maxKeys }))

const make = (options: RateLimiter.Options) => provideMemory(RateLimiter.make(options))

/** The `RateLimitedError` an effect fails with (anything else fails the test). */
const rejection = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.flip(self),
    (error) => error instanceof RateLimiter.RateLimitedError ? Effect.succeed(error) : Effect.die(error)
  )

/** Checks a log of admissions against the token-bucket bound, over every interval. */
const assertWithinBound = (
  admitted: ReadonlyArray<{ readonly at: number; readonly cost: number }>,
  tokensPerSecond: number,
  burstSize: number
) => {
  for (let i = 0; i < admitted.length; i++) {
    let sum = 0
    for (let j = i; j < admitted.length; j++) {
      sum += admitted[j].cost
      const t = admitted[j].at - admitted[i].at
      expect(sum).toBeLessThanOrEqual(burstSize + (tokensPerSecond * t) / 1000 + 1e-6)
    }
  }
}

/** A store seen only through its interface, as a remote store is (no synchronous fast path). */
const layerOpaque = Layer.effect(
  RateLimiterStore.RateLimiterStore,
  Effect.map(RateLimiterStore.makeMemory(), (store): RateLimiterStore.Service => ({
    consume: (request) => store.consume(request),
    peek: (request) => store.peek(request),
    refund: (request, decision) => store.refund(request, decision),
    stats: store.stats
  }))
)

const stores: ReadonlyArray<[string, Layer.Layer<RateLimiterStore.RateLimiterStore, unknown>]> = [
  ["the memory store", RateLimiterStore.layerMemory()],
  ["a store used through its interface only", layerOpaque]
]

describe("RateLimiter", () => {
  for (const [storeName, storeLayer] of stores) {
    const make = (options: RateLimiter.Options) => Effect.orDie(Effect.provide(RateLimiter.make(options), storeLayer))
    describe(`over ${storeName}`, () => {
      describe("fail mode", () => {
        it.effect("admits the burst, then rejects with an exact retryAfter, limit and remaining", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "api", tokensPerSecond: 2, burstSize: 3 })
            const remaining: Array<number> = []
            for (let i = 0; i < 3; i++) remaining.push((yield* limiter.acquire("client")).remaining)
            expect(remaining).toEqual([2, 1, 0])
            const error = yield* rejection(limiter.execute(Effect.succeed("order"), { key: "client" }))
            expect(error._tag).toBe("RateLimitedError")
            expect(error).toMatchObject({ key: "client", limit: 3, remaining: 0 })
            expect(Duration.toMillis(error.retryAfter)).toBe(500)
            yield* TestClock.adjust(499)
            expect(Duration.toMillis((yield* rejection(limiter.acquire("client"))).retryAfter)).toBe(1)
            yield* TestClock.adjust(1)
            expect(yield* limiter.execute(Effect.succeed("order"), { key: "client" })).toBe("order")
          }))

        it.effect("refills continuously: one token per 1/rate, up to the burst and no further", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "api", tokensPerSecond: 10, burstSize: 5 })
            for (let i = 0; i < 5; i++) yield* limiter.acquire("k")
            expect((yield* limiter.check("k")).allowed).toBe(false)
            yield* TestClock.adjust(100)
            expect(yield* limiter.consume("k")).toMatchObject({
              allowed: true,
              remaining: 0,
              resetAfter: Duration.millis(500)
            })
            yield* TestClock.adjust("1 hour")
            const full = yield* limiter.check("k", { cost: 0 })
            expect(full).toMatchObject({ allowed: true, remaining: 5, resetAfter: Duration.zero, limit: 5 })
            for (let i = 0; i < 5; i++) yield* limiter.acquire("k")
            expect((yield* limiter.consume("k")).allowed).toBe(false)
          }))

        it.effect("a call costs `cost` tokens (default from options, or per call)", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "api", tokensPerSecond: 1, burstSize: 10, cost: 4 })
            expect((yield* limiter.consume("k")).remaining).toBe(6)
            expect((yield* limiter.consume("k", { cost: 5 })).remaining).toBe(1)
            const rejected = yield* limiter.consume("k", { cost: 3 })
            expect(rejected).toMatchObject({ allowed: false, remaining: 1, retryAfter: Duration.seconds(2) })
            // A free call is let through and reports the buckets as they are.
            expect(yield* limiter.acquire("k", { cost: 0 })).toMatchObject({ allowed: true, remaining: 1 })
            const defect = yield* Effect.exit(limiter.consume("k", { cost: 11 }))
            expect(Exit.isFailure(defect) && Cause.isDie(defect.cause)).toBe(true)
            expect(yield* Effect.exit(limiter.acquire("k", { cost: Number.NaN }))).toSatisfy(
              (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) && Cause.isDie(exit.cause)
            )
          }))

        it.effect("check never takes a token", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "api", tokensPerSecond: 1, burstSize: 1 })
            for (let i = 0; i < 5; i++) expect((yield* limiter.check("k")).allowed).toBe(true)
            yield* limiter.acquire("k")
            expect(yield* limiter.check("k")).toMatchObject({ allowed: false, retryAfter: Duration.seconds(1) })
          }))

        it.effect("each client key has its own bucket; calls without a key share the limiter's", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "api", tokensPerSecond: 1, burstSize: 1 })
            yield* limiter.acquire("a")
            yield* limiter.acquire("b")
            yield* limiter.acquire()
            expect((yield* rejection(limiter.acquire("a"))).key).toBe("a")
            expect((yield* rejection(limiter.acquire())).key).toBe("api")
            const other = yield* make({ name: "other", tokensPerSecond: 1, burstSize: 1 })
            expect((yield* other.consume("a")).allowed).toBe(true)
          }))

        it.effect.prop(
          "over any interval of length t, admitted cost <= burst + rate × t",
          {
            tokensPerSecond: fc.double({ min: 0.5, max: 50, noNaN: true }),
            burstSize: fc.integer({ min: 1, max: 8 }),
            steps: fc.array(fc.record({ gap: fc.nat(400), cost: fc.integer({ min: 1, max: 8 }) }), { maxLength: 80 })
          },
          ({ burstSize, steps, tokensPerSecond }) =>
            Effect.gen(function*() {
              const limiter = yield* make({ name: "prop", tokensPerSecond, burstSize })
              const admitted: Array<{ at: number; cost: number }> = []
              for (const step of steps) {
                yield* TestClock.adjust(step.gap)
                const cost = Math.min(step.cost, burstSize)
                const decision = yield* limiter.consume("k", { cost })
                const at = yield* Clock.currentTimeMillis
                if (decision.allowed) admitted.push({ at, cost })
                else {
                  // retryAfter is exact: not admitted a millisecond earlier, admitted then.
                  const retryAfterMillis = Duration.toMillis(decision.retryAfter)
                  expect(retryAfterMillis).toBeGreaterThan(0)
                  if (retryAfterMillis > 1) {
                    yield* TestClock.adjust(retryAfterMillis - 1)
                    expect((yield* limiter.check("k", { cost })).allowed).toBe(false)
                    yield* TestClock.adjust(1)
                  } else {
                    yield* TestClock.adjust(decision.retryAfter)
                  }
                  expect((yield* limiter.check("k", { cost })).allowed).toBe(true)
                }
              }
              assertWithinBound(admitted, tokensPerSecond, burstSize)
            }),
          { fastCheck: { numRuns: 30 } }
        )

        it.effect("10,000 concurrent fibers are never over-admitted", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "flood",
              tokensPerSecond: 100,
              burstSize: 50,
              global: { tokensPerSecond: 100, burstSize: 300 }
            })
            const results = yield* Effect.forEach(
              Array.from({ length: 10_000 }, (_, i) => i),
              (i) => Effect.either(limiter.execute(Effect.succeed(i % 10), { key: `c${i % 10}` })),
              { concurrency: "unbounded" }
            )
            const perClient = new Map<number, number>()
            for (const result of results) {
              if (result._tag === "Right") perClient.set(result.right, (perClient.get(result.right) ?? 0) + 1)
            }
            // 10 clients × 50 would be 500: the global bucket caps the total at 300.
            expect([...perClient.values()].reduce((a, b) => a + b, 0)).toBe(300)
            for (const count of perClient.values()) expect(count).toBeLessThanOrEqual(50)
          }))
      })

      describe("per-client and global buckets", () => {
        it.effect("no client key shares the global bucket or the keyless one (\"*\", \"\")", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "api",
              tokensPerSecond: 1,
              burstSize: 2,
              global: { tokensPerSecond: 1, burstSize: 100 }
            })
            for (const key of ["*", "", undefined]) {
              expect((yield* limiter.consume(key)).allowed).toBe(true)
              expect((yield* limiter.consume(key)).allowed).toBe(true)
              const rejected = yield* limiter.consume(key)
              expect(rejected).toMatchObject({ allowed: false, limit: 2 })
              expect(limiter.boundBy(rejected)).toBe("client")
            }
            // each of the three keys took its 2 tokens from the global bucket once, nothing more
            const stats = yield* limiter.stats
            expect(Option.getOrThrow(stats.global)).toMatchObject({ limit: 100, remaining: 94 })
            expect(stats.keys).toEqual(Option.some(4))
          }))

        it.effect("boundBy tells which bucket a decision is reported for", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "api",
              tokensPerSecond: 1,
              burstSize: 3,
              global: { tokensPerSecond: 1, burstSize: 3 }
            })
            const first = yield* limiter.consume("a")
            expect(first).toMatchObject({ allowed: true, limit: 3, remaining: 2 })
            expect(limiter.boundBy(first)).toBe("client") // a tie: the client's bucket
            yield* limiter.consume("b")
            const tighter = yield* limiter.consume("c") // global: 0 left, c's own: 2
            expect(tighter).toMatchObject({ allowed: true, remaining: 0 })
            expect(limiter.boundBy(tighter)).toBe("global")
            const rejected = yield* limiter.consume("d")
            expect(rejected.allowed).toBe(false)
            expect(limiter.boundBy(rejected)).toBe("global")
            const plain = yield* make({ name: "plain", tokensPerSecond: 1, burstSize: 1 })
            yield* plain.consume("a")
            expect(plain.boundBy(yield* plain.consume("a"))).toBe("client")
          }))

        it.effect("a call rejected by its client's bucket takes nothing from the global one", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "api",
              tokensPerSecond: 1,
              burstSize: 2,
              global: { tokensPerSecond: 1, burstSize: 10 }
            })
            yield* limiter.acquire("greedy")
            yield* limiter.acquire("greedy")
            for (let i = 0; i < 20; i++) {
              const decision = yield* limiter.consume("greedy")
              expect(decision).toMatchObject({ allowed: false, limit: 2 })
              expect(decision.rejectedBy).toMatch(/greedy$/)
            }
            expect(yield* rejection(limiter.acquire("greedy"))).toMatchObject({
              key: "greedy",
              policy: "client",
              limit: 2
            })
            const stats = yield* limiter.stats
            expect(Option.getOrThrow(stats.global)).toMatchObject({ limit: 10, remaining: 8 })
          }))

        it.effect("a call rejected by the global bucket takes nothing from its client's", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "api",
              tokensPerSecond: 1,
              burstSize: 3,
              global: { tokensPerSecond: 1, burstSize: 4 }
            })
            for (let i = 0; i < 4; i++) yield* limiter.acquire(`client-${i}`)
            const error = yield* rejection(limiter.acquire("late"))
            expect(error).toMatchObject({ key: "late", policy: "global", limit: 4, remaining: 0 })
            expect(Duration.toMillis(error.retryAfter)).toBe(1000)
            expect(yield* limiter.check("late", { cost: 0 })).toMatchObject({ remaining: 0, limit: 4 })
            yield* TestClock.adjust("10 seconds")
            // "late" still holds all 3 of its tokens (the global bucket is full again).
            expect((yield* limiter.consume("late", { cost: 3 })).allowed).toBe(true)
          }))

        it.effect("stats report the store's keys and the global bucket", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "api",
              tokensPerSecond: 1,
              burstSize: 5,
              global: { tokensPerSecond: 10, burstSize: 20 }
            })
            for (let i = 0; i < 3; i++) yield* limiter.acquire(`k${i}`)
            const stats = yield* limiter.stats
            expect(stats).toMatchObject({ name: "api", mode: "fail", tokensPerSecond: 1, burstSize: 5 })
            expect(stats.keys).toEqual(Option.some(4)) // three clients + the global bucket
            expect(Option.getOrThrow(stats.global)).toEqual({
              limit: 20,
              remaining: 17,
              resetAfter: Duration.millis(300)
            })
          }))
      })

      describe("wait mode", () => {
        it.effect("waiters are served in arrival order, one per refill interval", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "quota", tokensPerSecond: 5, burstSize: 1, mode: "wait" })
            const done: Array<{ id: number; at: number }> = []
            const fibers = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), (id) =>
              Effect.fork(
                limiter.execute(
                  Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => done.push({ id, at })))
                )
              ))
            yield* TestClock.adjust("2 seconds")
            yield* Effect.forEach(fibers, Fiber.join)
            expect(done).toEqual([0, 1, 2, 3, 4, 5].map((id) => ({ id, at: id * 200 })))
          }))

        it.effect("a call that would wait longer than maxWait fails at once with the exact retryAfter", () =>
          Effect.gen(function*() {
            const limiter = yield* make({
              name: "quota",
              tokensPerSecond: 10,
              burstSize: 2,
              mode: "wait",
              maxWait: "300 millis"
            })
            const waits: Array<number> = []
            for (let i = 0; i < 5; i++) waits.push(Duration.toMillis((yield* limiter.consume()).wait))
            expect(waits).toEqual([0, 0, 100, 200, 300])
            const error = yield* rejection(limiter.acquire())
            expect(Duration.toMillis(error.retryAfter)).toBe(400)
            expect(error.remaining).toBe(0)
          }))

        it.effect("an interrupted waiter gives its reservation back: the next caller takes its place", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "quota", tokensPerSecond: 10, burstSize: 1, mode: "wait" })
            yield* limiter.acquire()
            const waiter = yield* Effect.fork(limiter.execute(Effect.void))
            yield* TestClock.adjust(20)
            yield* Fiber.interrupt(waiter)
            const next = yield* Effect.fork(limiter.execute(Clock.currentTimeMillis))
            yield* TestClock.adjust(1000)
            expect(yield* Fiber.join(next)).toBe(100)
          }))

        it.effect("interrupting waiters never lets the rest be over-admitted", () =>
          Effect.gen(function*() {
            const limiter = yield* make({ name: "quota", tokensPerSecond: 10, burstSize: 2, mode: "wait" })
            const done: Array<{ at: number; cost: number }> = []
            const run = Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => done.push({ at, cost: 1 })))
            const fibers = yield* Effect.forEach(
              Array.from({ length: 40 }, (_, i) => i),
              () => Effect.fork(limiter.execute(run))
            )
            for (let i = 0; i < 40; i += 3) {
              yield* TestClock.adjust(37)
              yield* Fiber.interrupt(fibers[(i * 7) % 40])
              yield* Effect.fork(limiter.execute(run))
            }
            yield* TestClock.adjust("1 minute")
            expect(done.length).toBeGreaterThan(30)
            assertWithinBound(done, 10, 2)
          }))

        it.effect.prop(
          "with random arrivals and interruptions, admitted cost <= burst + rate × t",
          {
            burstSize: fc.integer({ min: 1, max: 5 }),
            steps: fc.array(
              fc.record({ gap: fc.nat(150), cost: fc.integer({ min: 1, max: 5 }), interrupt: fc.boolean() }),
              { maxLength: 40 }
            )
          },
          ({ burstSize, steps }) =>
            Effect.gen(function*() {
              const tokensPerSecond = 20
              const limiter = yield* make({
                name: "prop",
                tokensPerSecond,
                burstSize,
                mode: "wait",
                maxWait: "1 second"
              })
              const done: Array<{ at: number; cost: number }> = []
              const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
              for (const step of steps) {
                yield* TestClock.adjust(step.gap)
                const cost = Math.min(step.cost, burstSize)
                const run = Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => done.push({ at, cost })))
                fibers.push(yield* Effect.fork(limiter.execute(run, { cost })))
                if (step.interrupt && fibers.length > 1) {
                  yield* Fiber.interrupt(fibers[(fibers.length * 5) % fibers.length])
                }
              }
              yield* TestClock.adjust("1 minute")
              done.sort((a, b) => a.at - b.at)
              assertWithinBound(done, tokensPerSecond, burstSize)
            }),
          { fastCheck: { numRuns: 40 } }
        )
      })
    })
  }

  describe("keys", () => {
    it.effect("the internal synchronous decision shares the buckets, the clock and the metrics of consume", () =>
      Effect.gen(function*() {
        const limiter = yield* make({ name: "sync-path", tokensPerSecond: 1, burstSize: 2 })
        const unsafeConsume = RateLimiter.unsafeConsumeOf(limiter)
        if (unsafeConsume === undefined) return expect.fail("the memory store has a synchronous path")
        const decide = (key: string, cost = 1) =>
          Effect.withFiberRuntime((fiber) => Effect.succeed(unsafeConsume(fiber, key, cost)))
        expect(yield* decide("a")).toMatchObject({ allowed: true, remaining: 1 })
        expect(yield* limiter.consume("a")).toMatchObject({ allowed: true, remaining: 0 })
        expect(yield* decide("a")).toMatchObject({ allowed: false, retryAfterMillis: 1000 })
        expect(yield* decide("a", 0)).toBeUndefined()
        expect(yield* decide("a", 3)).toBeUndefined()
        yield* TestClock.adjust("1 second")
        expect(yield* decide("a")).toMatchObject({ allowed: true, remaining: 0 })
        const counted = (outcome: string) =>
          Effect.map(
            Metric.value(
              Metric.taggedWithLabels(RateLimiter.decisionsTotal, [
                MetricLabel.make("policy", "rate_limiter"),
                MetricLabel.make("service", "sync-path"),
                MetricLabel.make("operation", ""),
                MetricLabel.make("outcome", outcome)
              ])
            ),
            (state) => state.count
          )
        expect(yield* counted("allowed")).toBe(3)
        expect(yield* counted("rejected")).toBe(1)
        const opaque = yield* Effect.provide(RateLimiter.make({ name: "no-sync", tokensPerSecond: 1 }), layerOpaque)
        expect(RateLimiter.unsafeConsumeOf(opaque)).toBeUndefined()
      }))

    it.effect("boundBy reads a store that does not report the binding bucket", () =>
      Effect.gen(function*() {
        const memory = yield* RateLimiterStore.makeMemory()
        const strip = (decision: RateLimiterStore.Decision): RateLimiterStore.Decision => ({
          ...decision,
          binding: undefined
        })
        const store: RateLimiterStore.Service = {
          consume: (request) => Effect.map(memory.consume(request), strip),
          peek: (request) => Effect.map(memory.peek(request), strip),
          refund: memory.refund,
          stats: memory.stats
        }
        const limiter = yield* Effect.provideService(
          RateLimiter.make({
            name: "api",
            tokensPerSecond: 1,
            burstSize: 5,
            global: { tokensPerSecond: 1, burstSize: 2 }
          }),
          RateLimiterStore.RateLimiterStore,
          store
        )
        const admitted = yield* limiter.consume("a")
        expect(admitted).toMatchObject({ allowed: true, limit: 2, binding: undefined })
        expect(limiter.boundBy(admitted)).toBe("global")
        yield* limiter.consume("b")
        const rejected = yield* limiter.consume("*")
        expect(rejected).toMatchObject({ allowed: false, rejectedBy: "api|*" })
        expect(limiter.boundBy(rejected)).toBe("global")
        const clientFirst = yield* Effect.provideService(
          RateLimiter.make({
            name: "cf",
            tokensPerSecond: 1,
            burstSize: 2,
            global: { tokensPerSecond: 1, burstSize: 5 }
          }),
          RateLimiterStore.RateLimiterStore,
          store
        )
        const byClient = yield* clientFirst.consume("a") // own: 1 left of 2, global: 4 of 5
        expect(byClient).toMatchObject({ allowed: true, limit: 2, remaining: 1 })
        expect(clientFirst.boundBy(byClient)).toBe("client")
      }))

    it.effect("hostile keys (huge, unicode, control characters, braces) are safe and distinct", () =>
      Effect.gen(function*() {
        const limiter = yield* make({ name: "api", tokensPerSecond: 1, burstSize: 1 })
        const keys = [
          "x".repeat(1_000_000),
          "x".repeat(999_999) + "y",
          "🔥".repeat(10),
          "\u0000\u0001\r\n",
          "\uD800", // a lone surrogate
          "{tag}",
          "a|*",
          "#looks-hashed",
          "",
          "ünïcödé",
          "192.168.0.1",
          "2001:db8::1"
        ]
        for (const key of keys) expect((yield* limiter.consume(key)).allowed).toBe(true)
        for (const key of keys) {
          const error = yield* rejection(limiter.acquire(key))
          expect(error.key.length).toBeLessThanOrEqual(64)
          expect(error.key).toMatch(/^[A-Za-z0-9_.:@/+=#-]*$/)
        }
        // Short printable keys are reported as they are.
        expect((yield* rejection(limiter.acquire("192.168.0.1"))).key).toBe("192.168.0.1")
        expect((yield* rejection(limiter.acquire("2001:db8::1"))).key).toBe("2001:db8::1")
      }))
  })

  describe("options", () => {
    const invalid: ReadonlyArray<[string, Partial<RateLimiter.Options>]> = [
      ["tokensPerSecond", { tokensPerSecond: 0 }],
      ["tokensPerSecond", { tokensPerSecond: -1 }],
      ["tokensPerSecond", { tokensPerSecond: Number.NaN }],
      ["tokensPerSecond", { tokensPerSecond: Infinity }],
      ["burstSize", { burstSize: 0 }],
      ["burstSize", { burstSize: 1.5 }],
      ["burstSize", { burstSize: Number.NaN }],
      ["cost", { cost: 0 }],
      ["cost", { cost: -1 }],
      ["cost", { cost: Number.NaN }],
      ["cost", { cost: 11 }],
      ["cost", { cost: 6, global: { tokensPerSecond: 1, burstSize: 5 } }],
      ["global.tokensPerSecond", { global: { tokensPerSecond: 0 } }],
      ["global.burstSize", { global: { tokensPerSecond: 1, burstSize: 0 } }],
      ["mode", { mode: "sometimes" as RateLimiter.Mode }],
      ["maxWait", { mode: "wait", maxWait: -5 }],
      ["maxWait", { mode: "wait", maxWait: 0 }],
      ["maxWait", { mode: "wait", maxWait: "forever" as Duration.DurationInput }],
      ["maxWait", { mode: "wait", maxWait: Duration.infinity }],
      ["name", { name: "" }],
      ["name", { name: "bad\nname" }]
    ]
    for (const [option, patch] of invalid) {
      it.effect(`invalid ${option} (${JSON.stringify(patch)}) is named`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(make({ name: "api", tokensPerSecond: 10, burstSize: 10, ...patch }))
          expect(error).toMatchObject({ _tag: "InvalidOptionsError", policy: "RateLimiter", option })
        }))
    }

    it.effect("defaults: burst of one second's tokens, cost 1, fail mode, 10 s maxWait", () =>
      Effect.gen(function*() {
        const limiter = yield* make({ name: "api", tokensPerSecond: 2.5 })
        expect(limiter.options).toMatchObject({ burstSize: 3, cost: 1, mode: "fail", maxCost: 3 })
        expect(Duration.toMillis(limiter.options.maxWait)).toBe(10_000)
        expect(Option.isNone(limiter.options.global)).toBe(true)
      }))
  })

  describe("policy form and layers", () => {
    it.effect("withRateLimit is data-first and pipeable, with a limiter or the environment's", () =>
      Effect.gen(function*() {
        const limiter = yield* make({ name: "api", tokensPerSecond: 1, burstSize: 2 })
        expect(yield* Effect.succeed(1).pipe(RateLimiter.withRateLimit(limiter, { key: "k" }))).toBe(1)
        expect(yield* RateLimiter.withRateLimit(Effect.succeed(2), limiter, { key: "k" })).toBe(2)
        expect((yield* rejection(RateLimiter.withRateLimit(Effect.succeed(3), limiter, { key: "k" })))._tag)
          .toBe("RateLimitedError")

        const viaTag = Effect.gen(function*() {
          expect(yield* Effect.succeed("a").pipe(RateLimiter.withRateLimit("client", { cost: 2 }))).toBe("a")
          const error = yield* rejection(RateLimiter.withRateLimit(Effect.succeed("b"), "client"))
          expect(error).toMatchObject({ _tag: "RateLimitedError", key: "client", limit: 2 })
        })
        yield* Effect.provide(viaTag, RateLimiter.layerMemory({ name: "tagged", tokensPerSecond: 1, burstSize: 2 }))
        const layered = Layer.provide(
          RateLimiter.layer({ name: "tagged", tokensPerSecond: 1, burstSize: 2 }),
          RateLimiterStore.layerMemory()
        )
        yield* Effect.provide(viaTag, layered)
      }))

    it.effect("logs rejections at debug level, with the limiter and key", () =>
      Effect.gen(function*() {
        const lines: Array<{ message: unknown; level: string; annotations: Record<string, unknown> }> = []
        const logger = Logger.make(({ annotations, logLevel, message }) => {
          lines.push({
            message,
            level: logLevel.label,
            annotations: Object.fromEntries(HashMap.toEntries(annotations))
          })
        })
        const limiter = yield* make({ name: "logged", tokensPerSecond: 1, burstSize: 1 })
        const run = Effect.gen(function*() {
          yield* limiter.acquire("k")
          yield* Effect.either(limiter.acquire("k"))
          yield* limiter.consume("k")
        })
        yield* run.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        expect(lines).toEqual([]) // debug is below the default minimum level
        yield* TestClock.adjust("1 second")
        yield* run.pipe(
          Logger.withMinimumLogLevel(LogLevel.Debug),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        expect(lines).toHaveLength(2)
        expect(lines[0]).toMatchObject({
          level: "DEBUG",
          annotations: { limiter: "logged", key: "k", limit: 1, remaining: 0, retryAfterMillis: 1000 }
        })
      }))

    it.effect("consume's rejection log goes through the calling fiber's logger, with its annotations", () =>
      Effect.gen(function*() {
        const lines: Array<{ level: string; annotations: Record<string, unknown> }> = []
        const logger = Logger.make(({ annotations, logLevel }) => {
          lines.push({ level: logLevel.label, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
        })
        const limiter = yield* make({ name: "logged-consume", tokensPerSecond: 1, burstSize: 1 })
        const decisions = yield* Effect.all([limiter.consume("k"), limiter.consume("k"), limiter.consume("j")]).pipe(
          Effect.annotateLogs("request", "r-1"),
          Logger.withMinimumLogLevel(LogLevel.Debug),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        expect(decisions.map((d) => d.allowed)).toEqual([true, false, true])
        expect(lines).toEqual([{
          level: "DEBUG",
          annotations: {
            request: "r-1",
            limiter: "logged-consume",
            key: "k",
            limit: 1,
            remaining: 0,
            retryAfterMillis: 1000,
            rejectedBy: "logged-consume|k"
          }
        }])
      }))

    it.effect("counts decisions by limiter and outcome", () =>
      Effect.gen(function*() {
        const limiter = yield* make({ name: "metered", tokensPerSecond: 10, burstSize: 2, mode: "wait" })
        yield* limiter.acquire()
        yield* limiter.acquire()
        const waiting = yield* Effect.fork(limiter.acquire())
        yield* TestClock.adjust(100)
        yield* Fiber.join(waiting)
        const rejected = RateLimiter.make({ name: "metered", tokensPerSecond: 10, burstSize: 1 })
        const failing = yield* provideMemory(rejected)
        yield* failing.acquire()
        yield* Effect.either(failing.acquire())
        const snapshot = yield* Metric.snapshot
        const count = (outcome: string) =>
          snapshot
            .filter((pair) =>
              pair.metricKey.name === "resilience_rate_limiter_decisions_total" &&
              pair.metricKey.tags.some((tag) => tag.key === "service" && tag.value === "metered") &&
              pair.metricKey.tags.some((tag) => tag.key === "outcome" && tag.value === outcome)
            )
            .reduce((sum, pair) => sum + (pair.metricState as unknown as { count: number }).count, 0)
        expect(count("allowed")).toBeGreaterThanOrEqual(3)
        expect(count("waited")).toBeGreaterThanOrEqual(1)
        expect(count("rejected")).toBeGreaterThanOrEqual(1)
      }))
  })
})
