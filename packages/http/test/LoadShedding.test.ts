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

/** How many requests have reached the slow handler (were admitted), for waiting on them instead of sleeping. */
type Entered = { count: number }

const serve = (gate: Deferred.Deferred<void>, options: LoadShedding.Options, entered: Entered = { count: 0 }) =>
  serveApi(
    HttpApiBuilder.api(Api).pipe(
      Layer.provide(
        HttpApiBuilder.group(Api, "work", (h) =>
          h.handle("slow", () =>
            Effect.suspend(() => {
              entered.count++
              return Effect.as(Deferred.await(gate), "done")
            })).handle("health", () => Effect.succeed("ok")))
      )
    ),
    LoadShedding.layer(options).pipe(Layer.provide(StatusSources.layer))
  )

/** Until `entered.count` reaches `n` (polled; the test's timeout is the only deadline). */
const untilEntered = (entered: Entered, n: number) =>
  Effect.sleep("5 millis").pipe(Effect.repeat({ until: () => entered.count >= n }))

describe("LoadShedding", () => {
  it.scopedLive("returns 503 + Retry-After when saturated, and recovers", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const entered: Entered = { count: 0 }
      const url = yield* serve(gate, {
        maxInFlight: 2,
        maxQueued: 1,
        queueTimeout: "20 seconds",
        retryAfter: "1500 millis",
        exempt: ["/health"]
      }, entered)
      const running = yield* Effect.fork(
        Effect.all([1, 2].map(() => request(`${url}/slow`)), { concurrency: "unbounded" })
      )
      yield* untilEntered(entered, 2) // two run…
      const queued = yield* Effect.fork(request(`${url}/slow`))
      // …and one queues: nothing to observe from outside, so give it seconds to arrive
      yield* Effect.sleep("2 seconds")
      expect(entered.count).toBe(2)
      const shed = yield* request(`${url}/slow`)
      expect(shed.status).toBe(503)
      expect(shed.headers["retry-after"]).toBe("2")
      expect(shed.json()).toEqual({ _tag: "ServiceOverloaded", reason: "full", retryAfter: 2 })
      // health checks are never shed
      expect((yield* request(`${url}/health`)).status).toBe(200)
      yield* Deferred.succeed(gate, undefined)
      const done = yield* Fiber.join(running)
      expect([...done, yield* Fiber.join(queued)].map((r) => r.status)).toEqual([200, 200, 200])
      expect((yield* request(`${url}/slow`)).status).toBe(200)
    }))

  it.scopedLive("sheds a request that waited longer than the queue timeout", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const entered: Entered = { count: 0 }
      const url = yield* serve(gate, { maxInFlight: 1, maxQueued: 5, queueTimeout: "100 millis" }, entered)
      const running = yield* Effect.fork(request(`${url}/slow`))
      yield* untilEntered(entered, 1)
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
