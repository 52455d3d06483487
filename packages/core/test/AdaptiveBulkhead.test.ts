import { AdaptiveBulkhead, AdaptiveLimit, Bulkhead, Policy, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck as fc, Fiber, Metric, Option, TestClock } from "effect"
import { type Model, simulate } from "./utils/queueingModel.js"

const average = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

/**
 * The queueing model (test/utils/queueingModel.ts): latency 50 ms up to a knee
 * of 40 calls in flight, growing as 50 ms · inflight / 40 beyond; 120
 * closed-loop clients (three times the knee: the upstream is always offered
 * more than it can take). After 60 s the upstream degrades: its knee halves.
 * The limit is read every second; "settled" is the average over the last
 * 20 s of each phase.
 */
const kneeRun = (algorithm: AdaptiveLimit.Algorithm) => {
  const bulkhead = Effect.runSync(AdaptiveBulkhead.make({
    name: `knee-${algorithm._tag}`,
    algorithm,
    minLimit: 1,
    maxLimit: 1000,
    initialLimit: 20,
    maxWaiting: 120
  }))
  const model: Model = { service: 50, knee: 40 }
  let maxSeen = 0
  let minSeen = Infinity
  const run = simulate({
    bulkhead,
    model,
    clients: 120,
    durationMillis: 120_000,
    traceEvery: 1_000,
    changes: [{ at: 60_000, apply: (m) => m.knee = 20 }],
    check: () => {
      maxSeen = Math.max(maxSeen, bulkhead.limit)
      minSeen = Math.min(minSeen, bulkhead.limit)
    }
  })
  return {
    healthy: average(run.trace.slice(40, 60)),
    degraded: average(run.trace.slice(100, 120)),
    maxSeen,
    minSeen,
    trace: run.trace
  }
}

describe("AdaptiveBulkhead", () => {
  describe("against an upstream whose latency grows past a knee of 40 calls, which then halves", () => {
    // Each algorithm's honest result in this model (the figures: README, "AdaptiveBulkhead").
    it("Vegas settles within +30% of the knee, and follows it down when it halves", () => {
      const { degraded, healthy, maxSeen, minSeen } = kneeRun(AdaptiveLimit.vegas())
      expect(healthy).toBeGreaterThanOrEqual(40)
      expect(healthy).toBeLessThanOrEqual(40 * 1.3)
      expect(degraded).toBeGreaterThanOrEqual(20)
      expect(degraded).toBeLessThanOrEqual(20 * 1.3)
      expect(minSeen).toBeGreaterThanOrEqual(1)
      expect(maxSeen).toBeLessThanOrEqual(1000)
    })

    it("AIMD, whose timeout is 1.2× the no-load latency, settles within +30% of the knee and backs off", () => {
      const { degraded, healthy } = kneeRun(AdaptiveLimit.aimd({ timeout: "60 millis" }))
      expect(healthy).toBeGreaterThanOrEqual(40 * 0.9)
      expect(healthy).toBeLessThanOrEqual(40 * 1.3)
      expect(degraded).toBeGreaterThanOrEqual(20 * 0.9)
      expect(degraded).toBeLessThanOrEqual(20 * 1.3)
    })

    it("Gradient2 with no latency tolerance settles within +30% of the knee and follows it down", () => {
      const { degraded, healthy } = kneeRun(AdaptiveLimit.gradient2({ rttTolerance: 1 }))
      expect(healthy).toBeGreaterThanOrEqual(40 * 0.9)
      expect(healthy).toBeLessThanOrEqual(40 * 1.3)
      expect(degraded).toBeGreaterThanOrEqual(20 * 0.9)
      expect(degraded).toBeLessThanOrEqual(20 * 1.3)
    })

    it("Gradient2 with Netflix's tolerance (1.5× latency accepted) backs off when the knee halves, above it", () => {
      const { degraded, healthy, trace } = kneeRun(AdaptiveLimit.gradient2())
      // it accepts latency up to 1.5× its long-term average by design, so it sits above the knee
      expect(healthy).toBeGreaterThanOrEqual(40)
      expect(Math.max(...trace.slice(55, 60))).toBeGreaterThan(Math.max(...trace.slice(100, 120)) * 1.4)
      expect(degraded).toBeLessThanOrEqual(20 * 2.2)
    })

    it("sampling per call instead of per window swings from collapse to overshoot: the window makes it settle", () => {
      const bulkhead = Effect.runSync(AdaptiveBulkhead.make({
        name: "per-call",
        algorithm: AdaptiveLimit.aimd({ timeout: "60 millis" }),
        minLimit: 1,
        maxLimit: 1000,
        initialLimit: 20,
        maxWaiting: 120,
        window: false
      }))
      const run = simulate({
        bulkhead,
        model: { service: 50, knee: 40 },
        clients: 120,
        durationMillis: 30_000,
        traceEvery: 1_000
      })
      // every call of a slow round trip backs off (to the floor), then +1 a call grows it past the knee in one round trip
      expect(Math.min(...run.trace.slice(10, 30))).toBeLessThanOrEqual(5)
      expect(Math.max(...run.trace.slice(10, 30))).toBeGreaterThanOrEqual(40)
      const windowed = kneeRun(AdaptiveLimit.aimd({ timeout: "60 millis" })).trace.slice(40, 60)
      expect(Math.min(...windowed)).toBeGreaterThanOrEqual(30)
    })
  })

  it("random interruptions while the limit moves lose no permit: no idle permit while calls wait, none held at the end", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.constantFrom<AdaptiveLimit.Algorithm>(
          AdaptiveLimit.aimd({ timeout: "60 millis" }),
          AdaptiveLimit.gradient2(),
          AdaptiveLimit.vegas()
        ),
        (seed, algorithm) => {
          const bulkhead = Effect.runSync(AdaptiveBulkhead.make({
            name: "chaos",
            algorithm,
            minLimit: 2,
            maxLimit: 60,
            initialLimit: 10,
            maxWaiting: 100,
            window: { minTime: "100 millis", maxTime: "100 millis", minSamples: 3 }
          }))
          const violations: Array<string> = []
          simulate({
            bulkhead,
            model: { service: 50, knee: 15 },
            clients: 60,
            durationMillis: 10_000,
            traceEvery: 1_000,
            dropAfterMillis: 150,
            interruptions: { seed, meanGapMillis: 5 },
            check: () => {
              const s = bulkhead.unsafeStats()
              if (s.waiting > 0 && s.active < s.maxConcurrent) violations.push(`idle permit: ${JSON.stringify(s)}`)
              if (s.maxConcurrent < 2 || s.maxConcurrent > 60) {
                violations.push(`limit out of bounds: ${s.maxConcurrent}`)
              }
            }
          })
          const end = bulkhead.unsafeStats()
          expect(violations.slice(0, 3)).toEqual([])
          expect({ active: end.active, waiting: end.waiting }).toEqual({ active: 0, waiting: 0 })
          // every permit of the current limit can be taken again
          const all = Effect.runSync(bulkhead.withPermitsIfAvailable(bulkhead.limit)(Effect.succeed("all")))
          expect(all).toEqual(Option.some("all"))
        }
      ),
      { numRuns: 12 }
    )
  })

  it.effect("measures a call's round trip on the fiber's Clock (TestClock): a slow call is a drop for AIMD", () =>
    Effect.gen(function*() {
      const bulkhead = yield* AdaptiveBulkhead.make({
        name: "test-clock",
        algorithm: AdaptiveLimit.aimd({ timeout: "50 millis" }),
        minLimit: 1,
        maxLimit: 100,
        initialLimit: 2,
        window: false
      })
      // 1 in flight of 2: at least half in use, +1
      const fast = yield* Effect.fork(bulkhead.execute(Effect.sleep("10 millis")))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(fast)
      expect(bulkhead.limit).toBe(3)
      // 100 ms > the 50 ms timeout: ×0.9, truncated
      const slow = yield* Effect.fork(bulkhead.execute(Effect.sleep("100 millis")))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(slow)
      expect(bulkhead.limit).toBe(2)
      expect(bulkhead.maxConcurrent).toBe(2)
    }))

  it.effect("a TimeoutError is a drop by default; isDrop chooses others; interruptions and rejections are no sample", () =>
    Effect.gen(function*() {
      const make = (isDrop?: (e: unknown) => boolean) =>
        AdaptiveBulkhead.make({
          name: "drops",
          algorithm: AdaptiveLimit.aimd({ backoffRatio: 0.5 }),
          minLimit: 1,
          maxLimit: 100,
          initialLimit: 40,
          maxWaiting: 0,
          window: false,
          isDrop
        })
      const timeout = yield* Timeout.make({ duration: "5 millis" })
      const bulkhead = yield* make()
      const timedOut = yield* Effect.fork(bulkhead.execute(timeout.execute(Effect.never)))
      yield* TestClock.adjust("5 millis")
      expect(Exit.isFailure(yield* Fiber.await(timedOut))).toBe(true)
      expect(bulkhead.limit).toBe(20)
      // any other failure is an ordinary sample (1 in flight of 20: no growth)
      yield* Effect.exit(bulkhead.execute(Effect.fail("boom")))
      expect(bulkhead.limit).toBe(20)
      const custom = yield* make((e) => e === "overloaded")
      yield* Effect.exit(custom.execute(Effect.fail("overloaded")))
      expect(custom.limit).toBe(20)
      // interrupted: says nothing about the upstream
      const interrupted = yield* Effect.fork(custom.execute(Effect.never))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(interrupted)
      expect(custom.limit).toBe(20)
      expect(custom.unsafeStats().active).toBe(0)
    }))

  it.effect("raising the limit serves the queue at once; lowering it waits for holders: resize sets it within bounds", () =>
    Effect.gen(function*() {
      const bulkhead = yield* AdaptiveBulkhead.make({
        name: "resize",
        algorithm: AdaptiveLimit.vegas(),
        minLimit: 2,
        maxLimit: 8,
        initialLimit: 2,
        maxWaiting: 10
      })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 6 }),
        () => Effect.fork(bulkhead.execute(Effect.never)),
        { concurrency: "unbounded" }
      )
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, waiting: 4, maxConcurrent: 2 })
      yield* bulkhead.resize(100)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 6, waiting: 0, maxConcurrent: 8 })
      yield* bulkhead.resize(0)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 6, maxConcurrent: 2 })
      expect(bulkhead.unsafeState().limit).toBe(2)
      yield* Fiber.interruptAll(fibers)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0, available: 2 })
    }))

  it.effect("is a Bulkhead: withPermit, Policy.stack and the Semaphore surface share its permits", () =>
    Effect.gen(function*() {
      const bulkhead = yield* AdaptiveBulkhead.make({ name: "as-bulkhead", initialLimit: 3, maxWaiting: 0 })
      const asBulkhead: Bulkhead.Bulkhead = bulkhead
      const semaphore: Effect.Semaphore = bulkhead
      expect(yield* Effect.succeed(1).pipe(Bulkhead.withPermit(asBulkhead))).toBe(1)
      expect(yield* Policy.stack({ bulkhead })(Effect.succeed(2))).toBe(2)
      const held = yield* Effect.fork(semaphore.withPermits(3)(Effect.never))
      yield* Effect.yieldNow()
      const rejected = yield* Effect.exit(bulkhead.execute(Effect.void))
      expect(Exit.isFailure(rejected) && Cause.failureOption(rejected.cause)).toEqual(
        Option.some(new Bulkhead.BulkheadRejectedError({ bulkhead: "as-bulkhead", reason: "full" }))
      )
      yield* Fiber.interrupt(held)
      expect(bulkhead.unsafeStats()).toMatchObject({
        active: 0,
        algorithm: "Vegas",
        minLimit: 1,
        maxLimit: 1000,
        rejected: { full: 1, timeout: 0 }
      })
    }))

  it.effect("reports its limit as the gauge resilience_adaptive_limit, labelled with the algorithm", () =>
    Effect.gen(function*() {
      const bulkhead = yield* AdaptiveBulkhead.make({
        name: "gauge",
        algorithm: AdaptiveLimit.aimd(),
        minLimit: 1,
        initialLimit: 7,
        window: false
      })
      yield* bulkhead.execute(Effect.sleep("1 millis")).pipe(
        Effect.fork,
        Effect.tap(() => TestClock.adjust("1 millis"))
      )
      yield* Effect.yieldNow()
      const snapshot = yield* Metric.snapshot
      const found = snapshot.find((pair) =>
        pair.metricKey.name === "resilience_adaptive_limit" &&
        pair.metricKey.tags.some((t) => t.key === "service" && t.value === "gauge")
      )
      expect(found?.metricKey.tags.map((t) => `${t.key}=${t.value}`).sort()).toEqual([
        "algorithm=AIMD",
        "operation=",
        "policy=bulkhead",
        "service=gauge"
      ])
      expect((found?.metricState as unknown as { value: number }).value).toBe(bulkhead.limit)
    }))

  it.effect("rejects bad options with an InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      const fail = (options: AdaptiveBulkhead.Options) => Effect.flip(AdaptiveBulkhead.make(options))
      expect((yield* fail({ name: "x", minLimit: 10, maxLimit: 5 })).option).toBe("minLimit")
      expect((yield* fail({ name: "x", minLimit: 10, maxLimit: 50, initialLimit: 60 })).option).toBe("initialLimit")
      expect((yield* fail({ name: "x", minLimit: 0 })).option).toBe("minLimit")
      expect((yield* fail({ name: "x", algorithm: AdaptiveLimit.aimd({ backoffRatio: 1.5 }) })).option).toBe(
        "algorithm.backoffRatio"
      )
      expect((yield* fail({ name: "x", algorithm: AdaptiveLimit.aimd({ timeout: -1 }) })).option).toBe(
        "algorithm.timeoutMillis"
      )
      expect((yield* fail({ name: "x", algorithm: AdaptiveLimit.gradient2({ rttTolerance: 0.5 }) })).option).toBe(
        "algorithm.rttTolerance"
      )
      expect((yield* fail({ name: "x", window: { minTime: "2 seconds", maxTime: "1 second" } })).option).toBe(
        "window.maxTime"
      )
      expect((yield* fail({ name: "" })).option).toBe("name")
    }))
})
