import { MarketDataClient, Polygon } from "@effect-resilience/clients"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"

// An in-process Polygon that records the (Test)Clock time of every request.
const recordingPolygon = (hits: Array<number>) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(Effect.clock, (clock) =>
      HttpClient.make((request) =>
        Effect.sync(() => {
          hits.push(clock.unsafeCurrentTimeMillis())
          return HttpClientResponse.fromWeb(
            request,
            new Response(
              JSON.stringify({ status: "OK", results: { P: 10.2, S: 3, p: 10.1, s: 4, t: 1_700_000_000_000_000_000 } }),
              {
                status: 200,
                headers: { "content-type": "application/json" }
              }
            )
          )
        })
      ))
  )

const maxInWindow = (hits: ReadonlyArray<number>, window: number) => {
  let max = 0
  for (let i = 0; i < hits.length; i++) {
    let n = 0
    for (let j = i; j < hits.length && hits[j]! < hits[i]! + window; j++) n++
    max = Math.max(max, n)
  }
  return max
}

describe("provider quota", () => {
  it.effect("100 concurrent callers never push Polygon past 5 calls a minute, and all of them wait instead of failing", () => {
    const hits: Array<number> = []
    return Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      expect(client.policy.rateLimit?.source).toContain("5 API calls per minute")
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 100 }), () => client.latestQuote("AAPL"), { concurrency: "unbounded" })
      )
      while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust("6 seconds")
      const quotes = yield* Fiber.join(fiber)
      expect(quotes).toHaveLength(100)
      expect(hits).toHaveLength(100)
      expect(maxInWindow(hits, 60_000)).toBeLessThanOrEqual(5)
      // paced, not bunched: 100 calls at 5/min take ~20 minutes
      expect(hits[99]! - hits[0]!).toBeGreaterThanOrEqual(19 * 60_000)
    }).pipe(
      Effect.provide(
        Polygon.layer({ apiKey: Redacted.make("k"), policy: { rateLimit: { maxWait: Duration.minutes(30) } } }).pipe(
          Layer.provide(recordingPolygon(hits))
        )
      )
    )
  })

  it.effect("callers whose wait would exceed the bound fail with RateLimitedError at once; the rest wait", () => {
    const hits: Array<number> = []
    return Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      const start = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.zip(Effect.exit(client.latestQuote("AAPL")), Clock.currentTimeMillis),
          { concurrency: "unbounded" }
        )
      )
      while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust("1 second")
      const timed = yield* Fiber.join(fiber)
      const exits = timed.map(([exit]) => exit)
      // turned away at once, without waiting
      for (const [exit, at] of timed) if (Exit.isFailure(exit)) expect(at).toBe(start)
      const ok = exits.filter(Exit.isSuccess).length
      const limited = exits.filter((e) =>
        Exit.isFailure(e) && (e.cause as any).error?._tag === "RateLimitedError"
      ).length
      // one call at once, then one per 12 s: a 1-minute bound admits the first 6
      expect(ok).toBe(6)
      expect(limited).toBe(14)
      expect(hits).toHaveLength(6)
      expect(maxInWindow(hits, 60_000)).toBeLessThanOrEqual(5)
      expect(hits[5]! - start).toBeLessThanOrEqual(60_000)
    }).pipe(
      Effect.provide(
        Polygon.layer({
          apiKey: Redacted.make("k"),
          policy: { rateLimit: { maxWait: Duration.minutes(1) }, requests: { retry: { maxRetries: 0 } } }
        }).pipe(Layer.provide(recordingPolygon(hits)))
      )
    )
  })
})
