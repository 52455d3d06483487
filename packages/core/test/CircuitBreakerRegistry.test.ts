import { CircuitBreakerRegistry } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Queue, TestClock } from "effect"

const fail = Effect.fail("boom")

describe("CircuitBreakerRegistry", () => {
  it.effect("get returns the same instance per service/resource, whatever the later options", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
      const first = yield* registry.get({ service: "trading_gateway", resource: "broker_api", failureThreshold: 2 })
      const again = yield* registry.get({ service: "trading_gateway", resource: "broker_api", failureThreshold: 9 })
      expect(again).toBe(first)
      expect(first.name).toBe("trading_gateway/broker_api")
      // the first options hold: 2 failures trip it
      yield* Effect.exit(again.execute(fail))
      yield* Effect.exit(again.execute(fail))
      expect(yield* first.state).toBe("Open")

      const other = yield* registry.get({ service: "trading_gateway", resource: "market_data" })
      expect(other).not.toBe(first)
      // "a/b" + "c" and "a" + "b/c" share a display name but not a breaker
      const ab = yield* registry.get({ service: "a/b", resource: "c" })
      const bc = yield* registry.get({ service: "a", resource: "b/c" })
      expect(ab).not.toBe(bc)
      expect(yield* registry.breakers).toEqual([first, other, ab, bc])
    }).pipe(Effect.provide(CircuitBreakerRegistry.layer)))

  it.scoped("makeScoped({ liveHalfOpen }): every breaker announces HalfOpen at its reset time with no call", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.makeScoped({ liveHalfOpen: true })
      const events = yield* registry.subscribe
      const broker = yield* registry.get({
        service: "gw",
        resource: "broker",
        failureThreshold: 1,
        resetTimeout: 10_000
      })
      const quotes = yield* registry.get({
        service: "gw",
        resource: "quotes",
        failureThreshold: 1,
        resetTimeout: 20_000
      })
      yield* Effect.exit(broker.execute(fail))
      yield* Effect.exit(quotes.execute(fail))
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("10 seconds")
      const seen = [
        yield* Queue.take(events),
        yield* Queue.take(events),
        yield* Queue.take(events),
        yield* Queue.take(events)
      ]
      expect(seen.map((c) => [c.breaker, c.to, c.at])).toEqual([
        ["gw/broker", "Open", 0],
        ["gw/quotes", "Open", 0],
        ["gw/broker", "HalfOpen", 10_000],
        ["gw/quotes", "HalfOpen", 20_000]
      ])
    }))

  it.effect("layerScoped({ liveHalfOpen }): HalfOpen is announced with no call while the layer lives", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.scoped(
        Effect.gen(function*() {
          const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
          const events = yield* registry.subscribe
          const broker = yield* registry.get({
            service: "gw",
            resource: "broker",
            failureThreshold: 1,
            resetTimeout: 10_000
          })
          yield* Effect.exit(broker.execute(fail))
          yield* TestClock.adjust("10 seconds")
          return [yield* Queue.take(events), yield* Queue.take(events)]
        }).pipe(Effect.provide(CircuitBreakerRegistry.layerScoped({ liveHalfOpen: true })))
      )
      expect(seen.map((c) => [c.breaker, c.to, c.at])).toEqual([["gw/broker", "Open", 0], [
        "gw/broker",
        "HalfOpen",
        10_000
      ]])
    }))

  it.effect("1,000 concurrent gets of one name make one breaker", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.make
      const breakers = yield* Effect.all(
        Array.from({ length: 1_000 }, () => registry.get({ service: "s", resource: "r" })),
        { concurrency: "unbounded" }
      )
      expect(new Set(breakers).size).toBe(1)
      expect(yield* registry.breakers).toHaveLength(1)
    }))

  it.effect("invalid options fail with InvalidOptionsError and register nothing", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.make
      const result = yield* Effect.either(registry.get({ service: "s", resource: "r", failureThreshold: 0 }))
      expect(Either.isLeft(result) && [result.left._tag, result.left.option]).toEqual([
        "InvalidOptionsError",
        "failureThreshold"
      ])
      expect(yield* registry.breakers).toHaveLength(0)
      const fixed = yield* registry.get({ service: "s", resource: "r", failureThreshold: 1 })
      expect(fixed.name).toBe("s/r")
    }))

  it.effect("snapshot covers every breaker; failure counts are summed per service", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.make
      const broker = yield* registry.get({ service: "trading_gateway", resource: "broker_api", failureThreshold: 3 })
      const data = yield* registry.get({ service: "trading_gateway", resource: "market_data", failureThreshold: 3 })
      const other = yield* registry.get({ service: "risk", resource: "db", failureThreshold: 100 })
      const quiet = yield* registry.get({ service: "quiet", resource: "cache" })
      yield* Effect.replicateEffect(Effect.exit(broker.execute(fail)), 3)
      yield* Effect.replicateEffect(Effect.exit(data.execute(fail)), 2)
      yield* Effect.replicateEffect(Effect.exit(other.execute(fail)), 7)
      yield* quiet.execute(Effect.void)

      const snapshot = yield* registry.snapshot
      expect(snapshot.map((s) => [s.name, s.state, s.failures])).toEqual([
        ["trading_gateway/broker_api", "Open", 3],
        ["trading_gateway/market_data", "Closed", 2],
        ["risk/db", "Closed", 7],
        ["quiet/cache", "Closed", 0]
      ])
      expect(yield* registry.failureCounts).toEqual(new Map([["trading_gateway", 5], ["risk", 7], ["quiet", 0]]))

      // the snapshot is live: Open becomes HalfOpen once the reset timeout has passed
      yield* TestClock.adjust("30 seconds")
      expect((yield* registry.snapshot)[0].state).toBe("HalfOpen")
    }))

  it.scoped("events merge every breaker's state changes in order", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitBreakerRegistry.make
      const changes = yield* registry.subscribe
      const a = yield* registry.get({ service: "s", resource: "a", failureThreshold: 1 })
      const b = yield* registry.get({ service: "s", resource: "b", failureThreshold: 1 })
      yield* Effect.exit(a.execute(fail))
      yield* Effect.exit(b.execute(fail))
      yield* b.isolate
      yield* a.reset
      const seen = Chunk.toReadonlyArray(yield* Queue.takeAll(changes))
      expect(seen.map((c) => [c.breaker, c.from, c.to])).toEqual([
        ["s/a", "Closed", "Open"],
        ["s/b", "Closed", "Open"],
        ["s/b", "Open", "Isolated"],
        ["s/a", "Open", "Closed"]
      ])
    }))
})
