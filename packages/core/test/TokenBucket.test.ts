import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as TokenBucket from "../src/internal/tokenBucket.js"

// The GCRA arithmetic alone, composed as the stores compose it: one bucket,
// `tat` the time it is full again (a bucket never seen: `tat = now`).
interface Bucket {
  tat: number
}

const decide = (
  bucket: Bucket,
  now: number,
  cost: number,
  maxWait: number,
  rate: number,
  burst: number
): { readonly allowed: boolean; readonly actAt: number } => {
  const interval = 1000 / rate
  const tat = TokenBucket.current(bucket.tat, now)
  const allowAt = TokenBucket.allowAt(tat, cost, interval, burst)
  const wait = allowAt - now
  if (!TokenBucket.admits(wait, maxWait)) return { allowed: false, actAt: now }
  const actAt = wait > TokenBucket.EPSILON ? allowAt : now
  bucket.tat = TokenBucket.charge(tat, actAt, cost, interval)
  return { allowed: true, actAt }
}

const ops = fc.array(
  fc.record({
    advance: fc.constantFrom(0, 0, 0, 1, 7, 40, 100, 333, 1000, 2500),
    cost: fc.constantFrom(0.5, 1, 1, 2, 3)
  }),
  { minLength: 1, maxLength: 200 }
)
const rates = fc.constantFrom(0.5, 1, 3, 4, 10, 1000)
const bursts = fc.integer({ min: 3, max: 20 })

describe("TokenBucket (GCRA arithmetic)", () => {
  it.prop(
    "fail mode: over any interval of length t, the admitted cost is at most burst + rate × t",
    [ops, rates, bursts],
    ([ops, rate, burst]) => {
      const bucket = { tat: 0 }
      const admitted: Array<{ readonly at: number; readonly cost: number }> = []
      let now = 0
      for (const { advance, cost } of ops) {
        now += advance
        if (decide(bucket, now, cost, 0, rate, burst).allowed) admitted.push({ at: now, cost })
      }
      for (let i = 0; i < admitted.length; i++) {
        let sum = 0
        for (let j = i; j < admitted.length; j++) {
          sum += admitted[j].cost
          const elapsed = admitted[j].at - admitted[i].at
          expect(sum).toBeLessThanOrEqual(burst + rate * elapsed / 1000 + 1e-6)
        }
      }
    }
  )

  it.prop(
    "wait mode: by the time each reservation acts, at most burst + rate × t has acted over any interval t",
    [ops, rates, bursts, fc.constantFrom(100, 1000, 5000)],
    ([ops, rate, burst, maxWait]) => {
      const bucket = { tat: 0 }
      const acted: Array<{ readonly at: number; readonly cost: number }> = []
      let now = 0
      for (const { advance, cost } of ops) {
        now += advance
        const decision = decide(bucket, now, cost, maxWait, rate, burst)
        if (decision.allowed) {
          expect(decision.actAt - now).toBeLessThanOrEqual(maxWait + 1e-6)
          acted.push({ at: decision.actAt, cost })
        }
      }
      // reservations act in the order they were made
      for (let i = 1; i < acted.length; i++) expect(acted[i].at).toBeGreaterThanOrEqual(acted[i - 1].at)
      for (let i = 0; i < acted.length; i++) {
        let sum = 0
        for (let j = i; j < acted.length; j++) {
          sum += acted[j].cost
          expect(sum).toBeLessThanOrEqual(burst + rate * (acted[j].at - acted[i].at) / 1000 + 1e-6)
        }
      }
    }
  )

  it.prop(
    "fail mode decides exactly like a bucket counting tokens (refill at rate, capped at burst)",
    // exact binary fractions: intervals of 1000, 500, 250, 125 ms
    [ops, fc.constantFrom(1, 2, 4, 8), bursts],
    ([ops, rate, burst]) => {
      const bucket = { tat: 0 }
      let tokens = burst
      let now = 0
      for (const { advance, cost } of ops) {
        now += advance
        tokens = Math.min(burst, tokens + rate * advance / 1000)
        const expected = tokens >= cost - 1e-9 // float error, as the store tolerates
        if (expected) tokens -= cost
        expect(decide(bucket, now, cost, 0, rate, burst).allowed).toBe(expected)
        expect(TokenBucket.remaining(TokenBucket.current(bucket.tat, now) - now, 1000 / rate, burst)).toBe(
          Math.floor(tokens + 1e-9)
        )
      }
    }
  )

  it("ceilMillis rounds up to whole milliseconds, ignoring float error, never below 0", () => {
    expect(TokenBucket.ceilMillis(-5)).toBe(0)
    expect(TokenBucket.ceilMillis(0)).toBe(0)
    expect(TokenBucket.ceilMillis(1e-9)).toBe(0)
    expect(TokenBucket.ceilMillis(0.1)).toBe(1)
    expect(TokenBucket.ceilMillis(1000 / 3)).toBe(334)
    expect(TokenBucket.ceilMillis(0.1 + 0.2 - 0.3 + 250)).toBe(250)
  })

  it("remaining is the whole tokens left, in [0, burst]", () => {
    expect(TokenBucket.remaining(0, 100, 5)).toBe(5)
    expect(TokenBucket.remaining(-3, 100, 5)).toBe(5)
    expect(TokenBucket.remaining(100, 100, 5)).toBe(4)
    expect(TokenBucket.remaining(150, 100, 5)).toBe(3)
    expect(TokenBucket.remaining(5000, 100, 5)).toBe(0) // in debt for reservations
  })
})
