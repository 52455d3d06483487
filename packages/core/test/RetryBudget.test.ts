import { ResilienceError, RetryBudget } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, FastCheck as fc, TestClock } from "effect"

// A hand-driven clock for the property: TestClock.adjust waits on real timers at every step.
let now = 0
const clock: Clock.Clock = {
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => now,
  currentTimeMillis: Effect.sync(() => now),
  unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
  sleep: () => Effect.void
}

const acquireAll = (budget: RetryBudget.RetryBudget) =>
  Effect.gen(function*() {
    let granted = 0
    while (yield* budget.tryAcquire) granted++
    return granted
  })

describe("RetryBudget", () => {
  it.effect("grants ratio × calls plus the floor, then refuses", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0.1, minRetriesPerSecond: 1, window: "5 seconds" })
      yield* Effect.repeatN(budget.recordCall, 99) // 100 calls
      expect(yield* acquireAll(budget)).toBe(10 + 5)
      expect(yield* budget.snapshot).toEqual({ calls: 100, retries: 15, allowed: 15, available: 0 })
      // every further call earns a tenth of a retry
      yield* Effect.repeatN(budget.recordCall, 9)
      expect(yield* acquireAll(budget)).toBe(1)
    }))

  it.effect("the window slides by whole seconds: old calls and retries expire", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0.5, minRetriesPerSecond: 0, window: "3 seconds" })
      yield* Effect.repeatN(budget.recordCall, 9) // t = 0 s: 10 calls
      expect(yield* acquireAll(budget)).toBe(5)
      yield* TestClock.adjust("2 seconds")
      yield* Effect.repeatN(budget.recordCall, 3) // t = 2 s: 4 calls
      expect(yield* acquireAll(budget)).toBe(2) // 14 × 0.5 = 7, 5 taken
      yield* TestClock.adjust("1 second") // t = 3 s: the t = 0 s bucket left the window
      expect(yield* budget.snapshot).toEqual({ calls: 4, retries: 2, allowed: 2, available: 0 })
      yield* TestClock.adjust("1 minute") // a long idle gap clears everything
      expect(yield* budget.snapshot).toEqual({ calls: 0, retries: 0, allowed: 0, available: 0 })
    }))

  it.effect.prop(
    "over any call pattern, a retry is granted only while retries ≤ ratio × calls + floor in the window",
    {
      ratio: fc.double({ min: 0.01, max: 1, noNaN: true }),
      floor: fc.integer({ min: 0, max: 5 }),
      steps: fc.array(fc.record({ calls: fc.nat(20), retries: fc.nat(20), advance: fc.nat(1500) }), {
        maxLength: 30
      })
    },
    ({ floor, ratio, steps }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ ratio, minRetriesPerSecond: floor, window: "2 seconds" })
        let granted = 0
        let refused = 0
        for (const step of steps) {
          for (let i = 0; i < step.calls; i++) yield* budget.recordCall
          for (let i = 0; i < step.retries; i++) {
            if (yield* budget.tryAcquire) {
              granted++
              const s = yield* budget.snapshot
              expect(s.retries).toBeLessThanOrEqual(ratio * s.calls + floor * 2 + 1e-9)
            } else {
              refused++
              const s = yield* budget.snapshot
              expect(s.retries + 1).toBeGreaterThan(ratio * s.calls + floor * 2 - 1e-9)
            }
          }
          now += step.advance
        }
        expect(granted + refused).toBe(steps.reduce((n, step) => n + step.retries, 0))
      }).pipe(Effect.withClock(clock)),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("invalid options are an InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[RetryBudget.Options, string]> = [
        [{ ratio: 0 }, "ratio"],
        [{ ratio: 1.5 }, "ratio"],
        [{ ratio: Number.NaN }, "ratio"],
        [{ minRetriesPerSecond: -1 }, "minRetriesPerSecond"],
        [{ minRetriesPerSecond: Number.NaN }, "minRetriesPerSecond"],
        [{ window: 0 }, "window"],
        [{ window: "500 millis" }, "window"],
        [{ window: -1 }, "window"]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(RetryBudget.make(options))
        expect(error).toBeInstanceOf(ResilienceError.InvalidOptionsError)
        expect(error.option).toBe(option)
      }
      const defaults = yield* RetryBudget.make()
      expect([defaults.ratio, defaults.minRetriesPerSecond]).toEqual([0.2, 10])
    }))
})
