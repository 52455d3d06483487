import { BrokerClient, MarketDataClient, Polygon, Simulated } from "@effect-resilience/clients"
import * as AdaptiveLimit from "@effect-resilience/core/AdaptiveLimit"
import * as StatusSources from "@effect-resilience/http/StatusSources"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Scope, TestClock } from "effect"

// An in-process Polygon answering every quote at once.
const polygonStub = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.succeed(HttpClientResponse.fromWeb(
      request,
      new Response(JSON.stringify({ status: "OK", results: { P: 10.2, S: 3, p: 10.1, s: 4, t: 1 } }), {
        status: 200,
        headers: { "content-type": "application/json" }
      })
    ))
  )
)

describe("clients in StatusSources", () => {
  it.effect("a broker's bulkheads are listed with their sizes and live occupancy while its layer lives", () =>
    Effect.gen(function*() {
      const sources = yield* StatusSources.StatusSources
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Simulated.layerBroker({ policy: { requests: { bulkhead: { maxConcurrent: 3, maxWaiting: 7 } } } }).pipe(
          Layer.provide(
            Simulated.layerFaults({
              latency: { base: Duration.seconds(1), jitter: Duration.zero, spikeRate: 0, spike: Duration.zero }
            })
          )
        ),
        scope
      )
      const client = yield* Effect.provide(BrokerClient.BrokerClient, context)
      const byName = () => Effect.map(sources.bulkheads, (all) => new Map(all.map((b) => [b.name, b])))

      const listed = yield* byName()
      expect(listed.get("simulated/broker_api")).toEqual({
        name: "simulated/broker_api",
        active: 0,
        available: 3,
        waiting: 0,
        maxConcurrent: 3,
        maxWaiting: 7,
        rejected: { full: 0, timeout: 0 }
      })
      expect(listed.get("simulated/order_execution")).toMatchObject({ maxConcurrent: 5, maxWaiting: 10 })

      // 5 slow reads: 3 hold the permits, 2 wait
      const reads = yield* Effect.fork(Effect.all(Array.from({ length: 5 }, () => client.account), { concurrency: 5 }))
      yield* TestClock.adjust("10 millis")
      expect((yield* byName()).get("simulated/broker_api")).toMatchObject({ active: 3, waiting: 2 })
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(reads)
      expect((yield* byName()).get("simulated/broker_api")).toMatchObject({ active: 0, waiting: 0 })

      yield* Scope.close(scope, Exit.void)
      expect([...(yield* byName()).keys()].filter((name) => name.startsWith("simulated/"))).toEqual([])
    }).pipe(Effect.provide(StatusSources.layer)))

  it.effect("opt-in adaptive bulkhead: listed at its current limit, under maxConcurrent, and it moves", () =>
    Effect.gen(function*() {
      const sources = yield* StatusSources.StatusSources
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Simulated.layerBroker({
          policy: {
            requests: {
              bulkhead: {
                maxConcurrent: 30,
                maxWaiting: 7,
                adaptive: { algorithm: AdaptiveLimit.aimd(), minLimit: 2, initialLimit: 4, window: false }
              }
            }
          }
        }).pipe(
          Layer.provide(
            Simulated.layerFaults({
              latency: { base: Duration.seconds(1), jitter: Duration.zero, spikeRate: 0, spike: Duration.zero }
            })
          )
        ),
        scope
      )
      const client = yield* Effect.provide(BrokerClient.BrokerClient, context)
      const readsApi = () => Effect.map(sources.bulkheads, (all) => all.find((b) => b.name === "simulated/broker_api"))
      expect(yield* readsApi()).toMatchObject({ maxConcurrent: 4, maxWaiting: 7, active: 0 })
      // 4 reads at once, each taking 1 s, started with 1, 2, 3, 4 permits held: AIMD adds 1 for each that, when it
      // ends, started with at least half the limit in use (how many depends on the order they end in)
      const reads = yield* Effect.fork(Effect.all(Array.from({ length: 4 }, () => client.account), { concurrency: 4 }))
      yield* TestClock.adjust("10 millis")
      expect(yield* readsApi()).toMatchObject({ active: 4 })
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(reads)
      const after = yield* readsApi()
      expect(after).toMatchObject({ active: 0, waiting: 0 })
      expect(after!.maxConcurrent).toBeGreaterThan(4)
      expect(after!.maxConcurrent).toBeLessThanOrEqual(30)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(StatusSources.layer)))

  it.effect("a provider quota is listed with its bucket and counts admitted and rejected calls", () =>
    Effect.gen(function*() {
      const sources = yield* StatusSources.StatusSources
      const client = yield* MarketDataClient.MarketDataClient
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 20 }), () => Effect.exit(client.latestQuote("AAPL")), {
          concurrency: "unbounded"
        })
      )
      while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust("1 second")
      const exits = yield* Fiber.join(fiber)
      const limiter = (yield* sources.limiters).find((l) => l.name === "clients/polygon")
      // burst 1, one token per 12 s, at most 1 minute of waiting: 6 admitted, 14 turned away
      expect(exits.filter(Exit.isSuccess)).toHaveLength(6)
      expect(limiter).toMatchObject({ limit: 1, windowSeconds: 12, allowed: 6, rejected: 14 })
    }).pipe(
      Effect.provide(
        Polygon.layer({
          plan: "advanced",
          apiKey: Redacted.make("k"),
          policy: { rateLimit: { maxWait: Duration.minutes(1) }, requests: { retry: { maxRetries: 0 } } }
        }).pipe(Layer.provide(polygonStub), Layer.provideMerge(StatusSources.layer))
      )
    ))

  it.effect("without StatusSources a client still builds and serves", () =>
    Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      expect(yield* client.latestQuote("AAPL")).toMatchObject({ bid: 10.1, ask: 10.2 })
      expect(Option.isNone(yield* Effect.serviceOption(StatusSources.StatusSources))).toBe(true)
    }).pipe(
      Effect.provide(Polygon.layer({ apiKey: Redacted.make("k"), plan: "advanced" }).pipe(Layer.provide(polygonStub)))
    ))
})
