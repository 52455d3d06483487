import { Bulkhead, CircuitBreaker, FaultInjection, Hedge, Policy, Retry, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, Ref, TestClock } from "effect"
import { counterValue } from "./utils/metrics.js"

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

interface Plan {
  readonly latency: number
  readonly outcome: "succeed" | "fail"
}

/**
 * An operation whose n-th attempt (0-based) follows plans[n]: it sleeps its
 * latency on the TestClock, then succeeds with n or fails with `failed n`.
 * Counts attempts started, running and interrupted.
 */
const scripted = (plans: ReadonlyArray<Plan>) => {
  const stats = { started: 0, running: 0, maxRunning: 0, interrupted: 0 }
  const operation = Effect.suspend(() => {
    const n = stats.started++
    stats.running++
    stats.maxRunning = Math.max(stats.maxRunning, stats.running)
    const plan = plans[n] ?? { latency: 1_000_000, outcome: "fail" }
    return Effect.sleep(Duration.millis(plan.latency)).pipe(
      Effect.zipRight(plan.outcome === "succeed" ? Effect.succeed(n) : Effect.fail(`failed ${n}`)),
      Effect.onInterrupt(() => Effect.sync(() => stats.interrupted++)),
      Effect.ensuring(Effect.sync(() => stats.running--))
    )
  })
  return { operation, stats }
}

// Background interruptions are processed on the next ticks of the scheduler.
const settle = Effect.repeatN(Effect.yieldNow(), 10)

describe("Hedge", () => {
  it.effect("a slow primary is overtaken by the hedge; the loser is interrupted and its finalizer runs", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "100 millis", idempotent: true })
      const loserFinalized = yield* Deferred.make<void>()
      const attempts = yield* Ref.make(0)
      const attempt = Effect.gen(function*() {
        const n = yield* Ref.getAndUpdate(attempts, (k) => k + 1)
        if (n === 0) {
          // the primary hangs for 10 s, and tells us when it is interrupted
          return yield* Effect.sleep("10 seconds").pipe(
            Effect.as("primary"),
            Effect.onInterrupt(() => Deferred.succeed(loserFinalized, undefined))
          )
        }
        return yield* Effect.as(Effect.sleep("50 millis"), "hedge")
      })
      const start = yield* now
      const fiber = yield* Effect.fork(hedge.execute(attempt))
      yield* TestClock.adjust("99 millis")
      expect(yield* Ref.get(attempts)).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(attempts)).toBe(2)
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(fiber)).toBe("hedge")
      expect((yield* now) - start).toBe(150)
      yield* Deferred.await(loserFinalized)
    }))

  it.effect("a primary that completes without suspending is returned at once: nothing else starts", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: 0, maxHedgedAttempts: 3, idempotent: true })
      let started = 0
      expect(yield* hedge.execute(Effect.sync(() => ++started))).toBe(1)
      expect(started).toBe(1)
      expect(yield* Effect.flip(hedge.execute(Effect.suspend(() => Effect.fail(++started))))).toBe(2)
      expect(started).toBe(2)
    }))

  it.effect("a non-idempotent operation is never hedged by default, however slow", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "10 millis", maxHedgedAttempts: 5 })
      expect(hedge.idempotent).toBe(false)
      const { operation, stats } = scripted([{ latency: 60_000, outcome: "succeed" }])
      const fiber = yield* Effect.fork(hedge.execute(operation))
      yield* TestClock.adjust("60 seconds")
      expect(yield* Fiber.join(fiber)).toBe(0)
      expect(stats.started).toBe(1)
    }))

  it.effect("a failed attempt starts the next at once; when all fail, the last failure is returned", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "1 second", maxHedgedAttempts: 2, idempotent: true })
      const { operation, stats } = scripted([
        { latency: 10, outcome: "fail" },
        { latency: 20, outcome: "fail" },
        { latency: 30, outcome: "fail" }
      ])
      const fiber = yield* Effect.fork(Effect.exit(hedge.execute(operation)))
      yield* TestClock.adjust("10 millis")
      expect(stats.started).toBe(2)
      yield* TestClock.adjust("20 millis")
      expect(stats.started).toBe(3)
      yield* TestClock.adjust("30 millis")
      expect(yield* Fiber.join(fiber)).toEqual(Exit.fail("failed 2"))
      expect(stats.started).toBe(3)
    }))

  it.effect("interrupting the caller interrupts every attempt and waits for them", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "10 millis", maxHedgedAttempts: 2, idempotent: true })
      const { operation, stats } = scripted([])
      const fiber = yield* Effect.fork(hedge.execute(operation))
      yield* TestClock.adjust("25 millis")
      expect(stats.running).toBe(3)
      yield* Fiber.interrupt(fiber)
      expect(stats.running).toBe(0)
      expect(stats.interrupted).toBe(3)
    }))

  it.effect("a percentile delay uses `initial` until minSamples latencies are known, then their percentile", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({
        delay: { percentile: 90, initial: "1 second", window: 10, minSamples: 10 },
        idempotent: true
      })
      expect(yield* hedge.currentDelay).toEqual(Duration.seconds(1))
      for (let i = 1; i <= 10; i++) {
        const fiber = yield* Effect.fork(hedge.execute(Effect.sleep(Duration.millis(i * 10))))
        yield* TestClock.adjust(Duration.millis(i * 10))
        yield* Fiber.join(fiber)
      }
      // latencies 10..100 ms: the 90th percentile (nearest rank) is 90 ms
      expect(yield* hedge.currentDelay).toEqual(Duration.millis(90))
      // and a call slower than that is hedged after 90 ms
      const { operation, stats } = scripted([{ latency: 500, outcome: "succeed" }, { latency: 5, outcome: "succeed" }])
      const fiber = yield* Effect.fork(hedge.execute(operation))
      yield* TestClock.adjust("89 millis")
      expect(stats.started).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(stats.started).toBe(2)
      yield* TestClock.adjust("5 millis")
      expect(yield* Fiber.join(fiber)).toBe(1)
    }))

  it.effect("in a stack each hedged attempt takes its own bulkhead permit: a full bulkhead rejects the hedge", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "10 millis", idempotent: true })
      const bulkhead = yield* Bulkhead.make({ name: "quotes", maxConcurrent: 1, maxWaiting: 0 })
      const policy = Policy.stack({ bulkhead, hedge })
      const { operation, stats } = scripted([{ latency: 100, outcome: "succeed" }])
      const fiber = yield* Effect.fork(policy(operation))
      yield* TestClock.adjust("10 millis")
      // the hedge was rejected by the bulkhead before reaching the operation
      expect(stats.started).toBe(1)
      yield* TestClock.adjust("90 millis")
      expect(yield* Fiber.join(fiber)).toBe(0)
    }))

  it.effect("a full stack (fused) with a hedge outermost and fault injection innermost", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "10 millis", idempotent: true })
      const bulkhead = yield* Bulkhead.make({ name: "quotes-full", maxConcurrent: 2 })
      const retry = yield* Retry.exponential({ maxRetries: 0 })
      const circuitBreaker = yield* CircuitBreaker.make({ service: "quotes", resource: "full" })
      const timeout = yield* Timeout.make({ duration: "1 second" })
      const chaos = yield* FaultInjection.latency({ rate: 1, latency: "5 millis" })
      const policy = Policy.stack({ timeout, faultInjection: chaos, circuitBreaker, retry, hedge, bulkhead })
      const { operation, stats } = scripted([{ latency: 500, outcome: "succeed" }, { latency: 20, outcome: "succeed" }])
      const fiber = yield* Effect.fork(policy(operation))
      yield* TestClock.adjust("10 millis")
      expect(stats.started).toBe(2)
      expect((yield* bulkhead.stats).active).toBe(2) // one permit per attempt
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(fiber)).toBe(1)
      yield* settle
      expect(stats.interrupted).toBe(1)
      expect((yield* bulkhead.stats).active).toBe(0)
      expect((yield* circuitBreaker.snapshot).state).toBe("Closed") // the loser's interruption is no failure
    }))

  const plan = fc.record({
    latency: fc.integer({ min: 0, max: 200 }),
    outcome: fc.constantFrom<"succeed" | "fail">("succeed", "succeed", "fail")
  })

  it.effect.prop(
    "attempts never exceed maxHedgedAttempts + 1; the call succeeds iff a started attempt succeeds; no attempt outlives it",
    {
      maxHedgedAttempts: fc.integer({ min: 0, max: 4 }),
      delay: fc.integer({ min: 0, max: 100 }),
      plans: fc.array(plan, { minLength: 6, maxLength: 6 })
    },
    ({ delay, maxHedgedAttempts, plans }) =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ delay, maxHedgedAttempts, idempotent: true })
        const { operation, stats } = scripted(plans)
        const fiber = yield* Effect.fork(Effect.exit(hedge.execute(operation)))
        yield* TestClock.adjust("2 seconds")
        const exit = yield* Fiber.join(fiber)
        yield* settle
        expect(stats.started).toBeLessThanOrEqual(maxHedgedAttempts + 1)
        expect(stats.maxRunning).toBeLessThanOrEqual(maxHedgedAttempts + 1)
        const started = plans.slice(0, stats.started)
        expect(Exit.isSuccess(exit)).toBe(started.some((p) => p.outcome === "succeed"))
        if (Exit.isSuccess(exit)) expect(plans[exit.value]!.outcome).toBe("succeed")
        expect(stats.running).toBe(0)
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect("metrics: hedges started and the winner, under policy hedge and the hedge's name; none when at once", () =>
    Effect.gen(function*() {
      const name = "hedge_metrics_test"
      const hedge = yield* Hedge.make({ delay: "100 millis", maxHedgedAttempts: 2, idempotent: true, name })
      const attempts = counterValue("resilience_hedge_attempts_total", "hedge", name)
      const wins = (outcome: string) => counterValue("resilience_hedge_wins_total", "hedge", name, { outcome })

      // a primary that completes at once: no metric at all
      expect(yield* hedge.execute(Effect.succeed("at once"))).toBe("at once")
      expect(yield* attempts).toBe(0)
      expect(yield* wins("primary")).toBe(0)

      // the primary wins after 50 ms: no hedge started
      const first = scripted([{ latency: 50, outcome: "succeed" }])
      const a = yield* Effect.fork(hedge.execute(first.operation))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(a)).toBe(0)
      expect(yield* attempts).toBe(0)
      expect(yield* wins("primary")).toBe(1)

      // the first hedge (started at 100 ms) wins
      const second = scripted([{ latency: 1000, outcome: "succeed" }, { latency: 10, outcome: "succeed" }])
      const b = yield* Effect.fork(hedge.execute(second.operation))
      yield* TestClock.adjust("110 millis")
      expect(yield* Fiber.join(b)).toBe(1)
      expect(yield* attempts).toBe(1)
      expect(yield* wins("hedge")).toBe(1)

      // every attempt fails: two hedges started, outcome none
      const third = scripted([{ latency: 10, outcome: "fail" }, { latency: 10, outcome: "fail" }, {
        latency: 10,
        outcome: "fail"
      }])
      const c = yield* Effect.fork(Effect.exit(hedge.execute(third.operation)))
      yield* TestClock.adjust("30 millis")
      expect(yield* Fiber.join(c)).toEqual(Exit.fail("failed 2"))
      expect(yield* attempts).toBe(3)
      expect(yield* wins("none")).toBe(1)
      expect([yield* wins("primary"), yield* wins("hedge")]).toEqual([1, 1])
      yield* settle
    }))

  it.effect("invalid options are a typed InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(Hedge.make({ delay: "1 second", maxHedgedAttempts: 11 }))).toMatchObject({
        _tag: "InvalidOptionsError",
        policy: "Hedge",
        option: "maxHedgedAttempts",
        rule: "must be an integer in [0, 10]"
      })
      expect(yield* Effect.flip(Hedge.make({ delay: -1 }))).toMatchObject({ option: "delay", rule: "must be >= 0" })
      expect(yield* Effect.flip(Hedge.make({ delay: { percentile: 100, initial: "1 second" } }))).toMatchObject({
        option: "delay.percentile",
        rule: "must be a number in (0, 100)"
      })
      expect(
        yield* Effect.flip(Hedge.make({ delay: { percentile: 99, initial: "1 second", window: 10, minSamples: 20 } }))
      ).toMatchObject({ option: "delay.minSamples", rule: "must be <= window" })
      expect(yield* Effect.flip(Hedge.make({ delay: 10, idempotent: "yes" as any }))).toMatchObject({
        option: "idempotent",
        rule: "must be true or false"
      })
    }))
})
