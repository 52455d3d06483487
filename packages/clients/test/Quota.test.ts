import { AlphaVantage, MarketDataClient, Polygon, ProviderPolicy, Simulated } from "@effect-resilience/clients"
import { ResilienceConfig } from "@effect-resilience/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"

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
        Polygon.layer({
          apiKey: Redacted.make("k"),
          plan: "advanced",
          policy: { rateLimit: { maxWait: Duration.minutes(30) } }
        }).pipe(
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
          plan: "advanced",
          apiKey: Redacted.make("k"),
          policy: { rateLimit: { maxWait: Duration.minutes(1) }, requests: { retry: { maxRetries: 0 } } }
        }).pipe(Layer.provide(recordingPolygon(hits)))
      )
    )
  })
})

// A ResilienceConfig read from the given environment variables.
const configFromEnv = (env: Record<string, string>) =>
  Layer.effect(
    ResilienceConfig.ResilienceConfig,
    ResilienceConfig.load().pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
  )

// Calls the client makes in the first minute when 100 callers arrive at once.
const callsInFirstMinute = (hits: Array<number>) =>
  Effect.gen(function*() {
    const client = yield* MarketDataClient.MarketDataClient
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(
      Effect.forEach(Array.from({ length: 100 }), () => Effect.exit(client.latestQuote("AAPL")), {
        concurrency: "unbounded"
      })
    )
    for (let second = 0; second < 60; second++) yield* TestClock.adjust("1 second")
    yield* Fiber.interrupt(fiber)
    return { client, inFirstMinute: hits.filter((at) => at < start + 60_000).length }
  })

describe("provider quota from ResilienceConfig", () => {
  it.effect("a ResilienceConfig rateLimit for polygon raises its quota: more calls a minute, never more than it allows", () => {
    const hits: Array<number> = []
    return Effect.gen(function*() {
      const { client, inFirstMinute } = yield* callsInFirstMinute(hits)
      expect(client.policy.rateLimit?.source).toContain("services.polygon.rateLimit")
      // burst 10, then 1 a second: 10 at once and one per second after
      expect(inFirstMinute).toBe(10 + 59)
      expect(maxInWindow(hits, 60_000)).toBeLessThanOrEqual(10 + 60)
    }).pipe(
      Effect.provide(
        Polygon.layer({ apiKey: Redacted.make("k"), plan: "advanced" }).pipe(
          Layer.provide(recordingPolygon(hits)),
          Layer.provide(
            ResilienceConfig.layer({
              services: { polygon: { rateLimit: { tokensPerSecond: 1, burstSize: 10, maxWait: "10 minutes" } } }
            })
          )
        )
      )
    )
  })

  it.effect("without a rateLimit in the ResilienceConfig, Polygon keeps its documented 5 calls a minute", () => {
    const hits: Array<number> = []
    return Effect.gen(function*() {
      const { client, inFirstMinute } = yield* callsInFirstMinute(hits)
      expect(client.policy.rateLimit?.source).toContain("5 API calls per minute")
      expect(inFirstMinute).toBe(5)
    }).pipe(
      Effect.provide(
        Polygon.layer({ apiKey: Redacted.make("k"), plan: "advanced" }).pipe(
          Layer.provide(recordingPolygon(hits)),
          Layer.provide(ResilienceConfig.layer({ services: { polygon: { timeout: "3 seconds" } } }))
        )
      )
    )
  })

  it.effect("the market_data type's RESILIENCE_MARKET_DATA_RATE_LIMIT_* variables apply; options.policy still wins", () => {
    const hits: Array<number> = []
    return Effect.gen(function*() {
      const { client, inFirstMinute } = yield* callsInFirstMinute(hits)
      const spec = client.policy.rateLimit!
      expect(spec.source).toContain("serviceTypes.market_data.rateLimit")
      // refill from the environment (1/s), burst from code (3, not the environment's 20)
      expect(spec.burst).toBe(3)
      expect(spec.refill / Duration.toSeconds(spec.interval)).toBe(1)
      expect(inFirstMinute).toBe(3 + 59)
    }).pipe(
      Effect.provide(
        Polygon.layer({ apiKey: Redacted.make("k"), plan: "advanced", policy: { rateLimit: { burst: 3 } } }).pipe(
          Layer.provide(recordingPolygon(hits)),
          Layer.provide(configFromEnv({
            RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND: "1",
            RESILIENCE_MARKET_DATA_RATE_LIMIT_BURST_SIZE: "20",
            RESILIENCE_MARKET_DATA_RATE_LIMIT_MAX_WAIT: "10 minutes"
          }))
        )
      )
    )
  })

  it.effect("options.policy wins over the ResilienceConfig for every part, field by field", () =>
    Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      expect(Duration.toSeconds(client.policy.requests.timeout!)).toBe(3)
      expect(client.policy.requests.retry.maxRetries).toBe(0)
      expect(client.policy.rateLimit).toMatchObject({ burst: 4, refill: 1 })
      expect(Duration.toMinutes(client.policy.rateLimit!.maxWait)).toBe(1)
    }).pipe(
      Effect.provide(
        Polygon.layer({
          plan: "advanced",
          apiKey: Redacted.make("k"),
          policy: { requests: { retry: { maxRetries: 0 } }, rateLimit: { maxWait: Duration.minutes(1) } }
        }).pipe(
          Layer.provide(recordingPolygon([])),
          Layer.provide(ResilienceConfig.layer({
            services: {
              polygon: {
                timeout: "3 seconds",
                retry: { maxRetries: 1 },
                rateLimit: { tokensPerSecond: 1, burstSize: 4, maxWait: "10 minutes" }
              }
            }
          }))
        )
      )
    ))

  it.effect("a client with no default quota needs tokensPerSecond from the configuration", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(
          Simulated.layerMarketData().pipe(
            Layer.provide(Simulated.layerFaults()),
            Layer.provide(ResilienceConfig.layer({ services: { simulated: { rateLimit: { burstSize: 2 } } } }))
          )
        ))
      )
      expect(error).toMatchObject({
        _tag: "InvalidOptionsError",
        option: "services.simulated.rateLimit.tokensPerSecond"
      })
    }))

  it.effect("a bad rate-limit variable fails the layer naming the variable and the rule", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(
          Polygon.layer({ apiKey: Redacted.make("k"), plan: "advanced" }).pipe(
            Layer.provide(recordingPolygon([])),
            Layer.provide(configFromEnv({ RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND: "-5" }))
          )
        ))
      )
      expect(error._tag).toBe("ResilienceConfigError")
      expect(error.message).toContain("RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND = \"-5\"")
      expect(error.message).toContain("must be a finite number > 0")
    }))
})

describe("multi-window provider quotas", () => {
  it("Alpha Vantage's free plan is 1/s, 5/min and 25/day; premium drops the windows; dailyLimit sets the day's", () => {
    expect(AlphaVantage.policy.rateLimit?.windows).toEqual([
      { limit: 5, per: Duration.minutes(1) },
      { limit: 25, per: Duration.days(1) }
    ])
    expect(AlphaVantage.policyFor({ plan: "premium" }).rateLimit?.windows).toBeUndefined()
    expect(AlphaVantage.policyFor({ dailyLimit: 100 }).rateLimit?.windows?.[1]).toEqual({
      limit: 100,
      per: Duration.days(1)
    })
    // a ResilienceConfig rateLimit section adjusts the bucket and keeps the windows
    const configured = ProviderPolicy.withConfiguredQuota(
      AlphaVantage.policy.rateLimit,
      { tokensPerSecond: 2 } as ResilienceConfig.RateLimitSettings,
      "alpha_vantage"
    )
    expect(configured._tag === "Right" && configured.right?.windows).toEqual(AlphaVantage.policy.rateLimit?.windows)
  })
})
