import { LoadShedding, StatusSources } from "@effect-resilience/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { request, serveApi } from "./utils/harness.js"

class Api extends HttpApi.make("api").add(
  HttpApiGroup.make("work").add(
    HttpApiEndpoint.get("slow", "/slow").addSuccess(HttpApiSchema.Text())
  ).add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.String))
) {}

const serve = (gate: Deferred.Deferred<void>, options: LoadShedding.Options) =>
  serveApi(
    HttpApiBuilder.api(Api).pipe(
      Layer.provide(
        HttpApiBuilder.group(Api, "work", (h) =>
          h.handle("slow", () =>
            Effect.as(Deferred.await(gate), "done")).handle("health", () =>
              Effect.succeed("ok")))
      )
    ),
    LoadShedding.layer(options).pipe(Layer.provide(StatusSources.layer))
  )

describe("LoadShedding", () => {
  it.scopedLive("returns 503 + Retry-After when saturated, and recovers", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const url = yield* serve(gate, {
        maxInFlight: 2,
        maxQueued: 1,
        queueTimeout: "5 seconds",
        retryAfter: "1500 millis",
        exempt: ["/health"]
      })
      const running = yield* Effect.fork(
        Effect.all([1, 2, 3].map(() => request(`${url}/slow`)), { concurrency: "unbounded" })
      )
      yield* Effect.sleep("100 millis") // let the three arrive: two run, one queues
      const shed = yield* request(`${url}/slow`)
      expect(shed.status).toBe(503)
      expect(shed.headers["retry-after"]).toBe("2")
      expect(shed.json()).toEqual({ _tag: "ServiceOverloaded", reason: "full", retryAfter: 2 })
      // health checks are never shed
      expect((yield* request(`${url}/health`)).status).toBe(200)
      yield* Deferred.succeed(gate, undefined)
      const done = yield* Fiber.join(running)
      expect(done.map((r) => r.status)).toEqual([200, 200, 200])
      expect((yield* request(`${url}/slow`)).status).toBe(200)
    }))

  it.scopedLive("sheds a request that waited longer than the queue timeout", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const url = yield* serve(gate, { maxInFlight: 1, maxQueued: 5, queueTimeout: "100 millis" })
      const running = yield* Effect.fork(request(`${url}/slow`))
      yield* Effect.sleep("30 millis")
      const timedOut = yield* request(`${url}/slow`)
      expect(timedOut.status).toBe(503)
      expect(timedOut.headers["retry-after"]).toBe("1")
      expect(timedOut.json()).toMatchObject({ reason: "timeout" })
      yield* Deferred.succeed(gate, undefined)
      expect((yield* Fiber.join(running)).status).toBe(200)
    }))

  it.effect("rejects invalid options naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LoadShedding.make({ maxInFlight: 0 }))
      expect(error.option).toBe("maxInFlight")
    }))
})
