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

/** One EVALSHA (EVAL on a cold cache) of a script, with the store's argument layout for one bucket. */
const decide = async (multi: boolean, key: string, rate: number, burst: number, step: Step) => {
  const args = [1, key, step.op, 1_000, step.cost, step.maxWaitMillis, rate, burst] as const
  try {
    return (await raw.evalsha(multi ? Script.sha1Multi : Script.sha1, ...args)) as Array<number | string>
  } catch {
    return (await raw.eval(multi ? Script.sourceMulti : Script.source, ...args)) as Array<number | string>
  }
}

describe("RedisRateLimiterStore hot path", () => {
  it.live("the one-bucket script decides exactly as the general script does with one bucket", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // Slow refills (≤ 0.001 token/s): the ~0.1 ms between the two twin
          // calls cannot move a whole token, so decisions must match exactly;
          // durations may differ by the elapsed fraction of a millisecond.
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
              const one = await decide(false, `${prefix}one`, rate, burst, step)
              const many = await decide(true, `${prefix}many`, rate, burst, step)
              expect(one.length).toBe(many.length)
              // allowed, binding, remaining: exact; waitMillis, resetAfter, retryAfter: within 1 ms
              expect([one[0], one[2], one[3]]).toEqual([many[0], many[2], many[3]])
              for (const i of [1, 4, 5]) expect(Math.abs(Number(one[i]) - Number(many[i]))).toBeLessThanOrEqual(1)
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
