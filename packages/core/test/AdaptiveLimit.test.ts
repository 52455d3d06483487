import { AdaptiveLimit } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"

const sample = (rttMillis: number, inflight: number, dropped = false): AdaptiveLimit.Sample => ({
  rttMillis,
  inflight,
  dropped
})

const feed = (
  algorithm: AdaptiveLimit.Algorithm,
  bounds: AdaptiveLimit.Bounds,
  initialLimit: number,
  samples: ReadonlyArray<AdaptiveLimit.Sample>
): Array<number> => {
  let state = AdaptiveLimit.initial(algorithm, bounds, initialLimit)
  return samples.map((s) => {
    state = AdaptiveLimit.update(algorithm, bounds, state, s)
    return state.limit
  })
}

describe("AdaptiveLimit", () => {
  describe("AIMD (AIMDLimit.java)", () => {
    const bounds = { minLimit: 1, maxLimit: 100 }

    it("adds one while at least half the limit is in use, and not otherwise", () => {
      expect(feed(AdaptiveLimit.aimd(), bounds, 10, [sample(5, 5), sample(5, 6), sample(5, 5)])).toEqual([11, 12, 12])
    })

    it("multiplies by the backoff ratio on a drop and on a round trip over the timeout", () => {
      const algorithm = AdaptiveLimit.aimd({ backoffRatio: 0.5, timeout: "100 millis" })
      expect(feed(algorithm, bounds, 40, [sample(5, 40, true), sample(101, 20), sample(100, 10)])).toEqual([20, 10, 11])
      // Netflix's default ratio, truncated as its int arithmetic does
      expect(feed(AdaptiveLimit.aimd(), bounds, 20, [sample(5, 1, true)])).toEqual([18])
    })
  })

  describe("Gradient2 (Gradient2Limit.java)", () => {
    const bounds = { minLimit: 1, maxLimit: 1000 }

    it("grows by queueSize × smoothing while latency is steady, and shrinks when it doubles", () => {
      const steady = feed(AdaptiveLimit.gradient2(), bounds, 20, Array.from({ length: 20 }, () => sample(10, 20)))
      // 20 · 1 + 4, smoothed by 0.2: +0.8 a sample
      expect(steady[0]).toBe(20)
      expect(steady[19]).toBe(Math.floor(20 + 20 * 0.8))
      let state = AdaptiveLimit.initial(AdaptiveLimit.gradient2(), bounds, 50)
      for (let i = 0; i < 20; i++) {
        state = AdaptiveLimit.update(AdaptiveLimit.gradient2(), bounds, state, sample(10, 50))
      }
      const before = state.limit
      for (let i = 0; i < 5; i++) state = AdaptiveLimit.update(AdaptiveLimit.gradient2(), bounds, state, sample(40, 70))
      expect(state.limit).toBeLessThan(before)
    })

    it("does not grow while less than half the limit is in use", () => {
      expect(feed(AdaptiveLimit.gradient2(), bounds, 20, [sample(10, 9), sample(10, 9)])).toEqual([20, 20])
    })
  })

  describe("Vegas (VegasLimit.java)", () => {
    const bounds = { minLimit: 1, maxLimit: 1000 }

    it("takes the first round trip as the no-load one, then grows by beta while nothing queues", () => {
      // log10(20) → 1: beta = 6
      expect(feed(AdaptiveLimit.vegas(), bounds, 20, [sample(10, 20), sample(10, 20)])).toEqual([20, 26])
    })

    it("shrinks by log10(limit) when the estimated queue is over beta, and on a drop", () => {
      // queue = ceil(20 · (1 − 10/20)) = 10 > 6
      expect(feed(AdaptiveLimit.vegas(), bounds, 20, [sample(10, 20), sample(20, 20)])).toEqual([20, 19])
      expect(feed(AdaptiveLimit.vegas(), bounds, 20, [sample(10, 20), sample(10, 1, true)])).toEqual([20, 19])
    })
  })

  it("Vegas stays within bounds when smoothing a limit already at them (floating-point rounding, found by the property)", () => {
    const algorithm = AdaptiveLimit.vegas({ smoothing: 0.01, probeMultiplier: 1, seed: 0 })
    const bounds = { minLimit: 48, maxLimit: 48 }
    let state = AdaptiveLimit.initial(algorithm, bounds, 1)
    for (const inflight of [0, 24]) {
      state = AdaptiveLimit.update(algorithm, bounds, state, { rttMillis: 5e-324, inflight, dropped: false })
      expect(state.limit).toBe(48)
    }
  })

  it.prop(
    "every algorithm keeps the limit an integer within [minLimit, maxLimit], whatever the samples",
    {
      algorithm: fc.oneof(
        fc.record({
          backoffRatio: fc.double({ min: 0.5, max: 0.99, noNaN: true }),
          timeout: fc.integer({ min: 1, max: 1000 })
        }).map((o) => AdaptiveLimit.aimd(o)),
        fc.record({
          smoothing: fc.double({ min: 0.01, max: 1, noNaN: true }),
          queueSize: fc.integer({ min: 0, max: 50 }),
          longWindow: fc.integer({ min: 1, max: 1000 }),
          rttTolerance: fc.double({ min: 1, max: 5, noNaN: true })
        }).map((o) => AdaptiveLimit.gradient2(o)),
        fc.record({
          smoothing: fc.double({ min: 0.01, max: 1, noNaN: true }),
          probeMultiplier: fc.integer({ min: 1, max: 100 }),
          seed: fc.integer()
        }).map((o) => AdaptiveLimit.vegas(o))
      ),
      minLimit: fc.integer({ min: 1, max: 50 }),
      span: fc.integer({ min: 0, max: 500 }),
      initial: fc.integer({ min: 1, max: 600 }),
      samples: fc.array(
        fc.record({
          rttMillis: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 10_000, noNaN: true })),
          inflight: fc.integer({ min: 0, max: 2000 }),
          dropped: fc.boolean()
        }),
        { maxLength: 300 }
      )
    },
    ({ algorithm, initial, minLimit, samples, span }) => {
      const bounds = { minLimit, maxLimit: minLimit + span }
      let state = AdaptiveLimit.initial(algorithm, bounds, initial)
      const within = (s: AdaptiveLimit.State) =>
        Number.isInteger(s.limit) && s.limit >= bounds.minLimit && s.limit <= bounds.maxLimit
      if (!within(state)) return false
      for (const s of samples) {
        state = AdaptiveLimit.update(algorithm, bounds, state, s)
        if (!within(state)) return false
      }
      return true
    }
  )

  it("defaultLimits are Netflix's builders'", () => {
    expect(AdaptiveLimit.defaultLimits(AdaptiveLimit.aimd())).toEqual({ minLimit: 20, initialLimit: 20, maxLimit: 200 })
    expect(AdaptiveLimit.defaultLimits(AdaptiveLimit.gradient2())).toEqual({
      minLimit: 20,
      initialLimit: 20,
      maxLimit: 200
    })
    expect(AdaptiveLimit.defaultLimits(AdaptiveLimit.vegas())).toEqual({
      minLimit: 1,
      initialLimit: 20,
      maxLimit: 1000
    })
  })
})
