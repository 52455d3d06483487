import type * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import * as Script from "@effect-resilience/redis/internal/script"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, inject } from "vitest"

const url = inject("redisUrl")

let raw: Redis
beforeAll(() => {
  raw = new Redis(url, { lazyConnect: false })
})
afterAll(async () => {
  await raw.quit()
})

let counter = 0
const freshPrefix = () => `hot:${process.pid}:${Date.now()}:${counter++}:`

type Step = { readonly op: "c" | "p"; readonly cost: number; readonly maxWaitMillis: number }

/**
 * The same step on twin keys, through the one-bucket script and through the
 * general script, back to back in one MULTI so both see (almost) the same
 * server clock. The store's argument layout for one bucket.
 */
const decideBoth = async (prefix: string, rate: number, burst: number, step: Step) => {
  await raw.script("LOAD", Script.source)
  await raw.script("LOAD", Script.sourceMulti)
  const args = (key: string) => [1, key, step.op, 1_000, step.cost, step.maxWaitMillis, rate, burst] as const
  const replies = await raw.multi().evalsha(Script.sha1, ...args(`${prefix}one`)).evalsha(
    Script.sha1Multi,
    ...args(`${prefix}many`)
  ).exec()
  return replies!.map(([error, reply]) => {
    if (error !== null) throw error
    return reply as Array<number | string>
  })
}

describe("RedisRateLimiterStore hot path", () => {
  it.live("the one-bucket script decides exactly as the general script does with one bucket", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // Slow refills (≤ 0.001 token/s): the microseconds between the two
          // twin calls cannot move a whole token, so decisions must match
          // exactly; durations (rounded up to ms) may differ by one.
          FastCheck.integer({ min: 1, max: 5 }),
          FastCheck.constantFrom(0.001, 0.0005, 0.0001),
          FastCheck.array(
            FastCheck.record({
              op: FastCheck.constantFrom<"c" | "p">("c", "c", "p"),
              cost: FastCheck.integer({ min: 1, max: 5 }),
              maxWaitMillis: FastCheck.constantFrom(0, 0, 1_500_000, 10_000_000)
            }),
            { minLength: 1, maxLength: 25 }
          ),
          async (burst, rate, steps) => {
            const prefix = freshPrefix()
            for (const step of steps) {
              if (step.cost > burst) continue
              const [one, many] = await decideBoth(prefix, rate, burst, step)
              expect(one.length).toBe(many.length)
              // allowed, binding, remaining: exact; waitMillis, resetAfter, retryAfter: within 1 ms
              expect([one[0], one[2], one[3]]).toEqual([many[0], many[2], many[3]])
              for (const i of [1, 4, 5]) expect(Math.abs(Number(one[i]) - Number(many[i]))).toBeLessThanOrEqual(1)
              // The stored tats (and reservations) agree to within the time between the twin calls (µs; 0.5 ms on a loaded machine).
              for (let i = 6; i < one.length; i++) {
                expect(Math.abs(Number(one[i]) - Number(many[i]))).toBeLessThan(0.5)
              }
              const [tatOne, tatMany] = await raw.mgetBuffer(`${prefix}one`, `${prefix}many`)
              expect(tatOne === null).toBe(tatMany === null)
              if (tatOne !== null && tatMany !== null) {
                // stored as the 8 bytes of a little-endian double
                expect(tatOne.length).toBe(8)
                expect(Math.abs(tatOne.readDoubleLE(0) - tatMany.readDoubleLE(0))).toBeLessThan(0.5)
              }
            }
          }
        ),
        { numRuns: 40 }
      )
    ))

  it.scopedLive("many decisions issued in one tick (one corked write) are all decided, none over-admitted", () =>
    Effect.gen(function*() {
      const store = yield* RedisRateLimiterStore.make({
        url,
        prefix: freshPrefix(),
        timeout: "2 seconds",
        onError: "fail"
      })
      const keys = ["a", "b", "c"]
      const burst = 50
      const decisions = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => keys[i % keys.length]),
        (key) =>
          Effect.map(
            store.consume({ buckets: [{ key, tokensPerSecond: 0.001, burstSize: burst }], cost: 1, maxWaitMillis: 0 }),
            (decision) => ({ key, decision })
          ),
        { concurrency: "unbounded" }
      )
      for (const key of keys) {
        const mine = decisions.filter((d) => d.key === key).map((d) => d.decision)
        const admitted = mine.filter((d) => d.allowed)
        expect(admitted.length).toBe(burst)
        // Each admitted decision saw its own count: remaining burst-1 … 0, each once.
        expect(admitted.map((d) => d.remaining).sort((x, y) => x - y)).toEqual(
          Array.from({ length: burst }, (_, i) => i)
        )
      }
    }))

  it.scopedLive("two-bucket decisions go through the general script and stay all-or-nothing", () =>
    Effect.gen(function*() {
      const store = yield* RedisRateLimiterStore.make({
        url,
        prefix: freshPrefix(),
        timeout: "2 seconds",
        onError: "fail"
      })
      const global: RateLimiterStore.Bucket = { key: "global", tokensPerSecond: 0.001, burstSize: 3 }
      const request = (client: string): RateLimiterStore.Request => ({
        buckets: [{ key: client, tokensPerSecond: 0.001, burstSize: 2 }, global],
        cost: 1,
        maxWaitMillis: 0
      })
      const results = yield* Effect.forEach(["x", "x", "x", "y", "y"], (c) => store.consume(request(c)), {
        concurrency: "unbounded"
      })
      expect(results.map((d) => d.allowed)).toEqual([true, true, false, true, false])
      expect(results[2].rejectedBy).toBe("x")
      expect(results[4].rejectedBy).toBe("global")
    }))
})
