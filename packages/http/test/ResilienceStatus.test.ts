import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { LoadShedding, RateLimit, ResilienceStatus, StatusSources } from "@effect-resilience/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { request, serveApi } from "./utils/harness.js"

class Work extends HttpApiGroup.make("work").add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String))
  .middleware(RateLimit.Middleware)
{}
class Api extends HttpApi.make("api").add(Work).add(ResilienceStatus.Group) {}

const serveWith = <E, R>(makeRegistry: Effect.Effect<CircuitBreakerRegistry.Service, E, R>) =>
  Effect.gen(function*() {
    const registry = yield* makeRegistry
    const sources = yield* StatusSources.make
    const services = Layer.mergeAll(
      Layer.succeed(CircuitBreakerRegistry.CircuitBreakerRegistry, registry),
      Layer.succeed(StatusSources.StatusSources, sources)
    )
    const url = yield* serveApi(
      HttpApiBuilder.api(Api).pipe(
        Layer.provide(HttpApiBuilder.group(Api, "work", (h) => h.handle("hello", () => Effect.succeed("hi")))),
        Layer.provide(ResilienceStatus.layer(Api)),
        Layer.provide(
          RateLimit.layer({
            name: "api",
            tokensPerSecond: 0.01,
            burstSize: 2,
            global: { tokensPerSecond: 0.01, burstSize: 100 }
          })
        ),
        Layer.provide(RateLimiterStore.layerMemory()),
        Layer.provide(services)
      ),
      LoadShedding.layer({ name: "server", maxInFlight: 7, maxQueued: 3 }).pipe(Layer.provide(services))
    )
    return { url, registry }
  })

const serve = serveWith(CircuitBreakerRegistry.make)

describe("ResilienceStatus", () => {
  it.scopedLive("decodes with its Schema and reflects a breaker that was opened", () =>
    Effect.gen(function*() {
      const { registry, url } = yield* serve
      const breaker = yield* registry.get({
        service: "broker",
        resource: "orders",
        failureThreshold: 1,
        resetTimeout: "30 seconds"
      })
      yield* Effect.ignore(breaker.execute(Effect.fail("boom")))
      yield* Effect.forEach([1, 2, 3], () => request(`${url}/hello`))

      const response = yield* request(`${url}/resilience/status`)
      expect(response.status).toBe(200)
      const status = Schema.decodeUnknownSync(ResilienceStatus.Snapshot)(response.json())
      const [orders] = status.breakers
      expect(orders).toMatchObject({ name: "broker/orders", state: "Open", failures: 1, trips: 1 })
      expect(orders.nextAttemptAt).not.toBeNull()
      expect(orders.nextAttemptAt! - orders.openedAt!).toBe(30_000)
      // a process-local breaker has no fleet part
      expect("fleet" in orders).toBe(false)
      // the status request itself holds one permit
      expect(status.bulkheads).toEqual([{
        name: "server",
        active: 1,
        available: 6,
        waiting: 0,
        maxConcurrent: 7,
        maxWaiting: 3,
        rejected: { full: 0, timeout: 0 }
      }])
      expect(status.limiters).toEqual([
        {
          name: "api",
          limit: 2,
          windowSeconds: 200,
          keys: expect.any(Number),
          globalRemaining: 98, // two admitted; the rejected request took nothing
          globalLimit: 100,
          allowed: 2,
          rejected: 1
        }
      ])
      expect(status.limiters[0].keys).toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("a fleet-wide breaker's status carries its fleet part: mode, fleet state, instance, failing instances", () =>
    Effect.gen(function*() {
      const { registry, url } = yield* serveWith(
        CircuitBreakerRegistry.makeShared({ instanceId: "api-1", quorum: { instances: 1 } })
      ).pipe(Effect.provide(CircuitBreakerStore.layerMemory()))
      const breaker = yield* registry.get({
        service: "broker",
        resource: "orders",
        failureThreshold: 1,
        resetTimeout: "30 seconds"
      })
      const before = Schema.decodeUnknownSync(ResilienceStatus.Snapshot)(
        (yield* request(`${url}/resilience/status`)).json()
      )
      expect(before.breakers[0].fleet).toEqual({
        mode: "shared",
        state: "Closed",
        instanceId: "api-1",
        failingInstances: [],
        version: expect.any(Number)
      })
      yield* Effect.ignore(breaker.execute(Effect.fail("boom")))
      // the failure reaches the fleet with the next outcome batch
      let fleet = before.breakers[0].fleet
      for (let i = 0; i < 200 && fleet?.state !== "Open"; i++) {
        yield* Effect.sleep("25 millis")
        const status = Schema.decodeUnknownSync(ResilienceStatus.Snapshot)(
          (yield* request(`${url}/resilience/status`)).json()
        )
        fleet = status.breakers[0].fleet
      }
      expect(fleet?.state).toBe("Open")
      expect(fleet?.failingInstances.map((f) => [f.instance, f.failures])).toEqual([["api-1", 1]])
    }))
})
