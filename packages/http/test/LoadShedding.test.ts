import * as AdaptiveLimit from "@effect-resilience/core/AdaptiveLimit"
import * as ResilienceError from "@effect-resilience/core/ResilienceError"
import { LoadShedding, StatusSources } from "@effect-resilience/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiError, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Metric, Option, Schema } from "effect"
import * as Net from "node:net"
import { request, serveApi } from "./utils/harness.js"

class Api extends HttpApi.make("api").add(
  HttpApiGroup.make("work").add(
    HttpApiEndpoint.get("slow", "/slow").addSuccess(HttpApiSchema.Text())
  ).add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.String))
) {}

class UploadApi extends HttpApi.make("upload").add(
  HttpApiGroup.make("upload").add(
    HttpApiEndpoint.post("echo", "/echo").setPayload(Schema.Struct({ n: Schema.Number })).addSuccess(Schema.Number)
  )
) {}

const serveUpload = (options: LoadShedding.Options) =>
  serveApi(
    HttpApiBuilder.api(UploadApi).pipe(
      Layer.provide(
        HttpApiBuilder.group(UploadApi, "upload", (h) => h.handle("echo", ({ payload }) => Effect.succeed(payload.n)))
      )
    ),
    LoadShedding.layer(options).pipe(Layer.provide(StatusSources.layer))
  )

const post = (url: string, body: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(20_000)
    })
    return { status: response.status, body: await response.text() }
  })

/** A POST /echo whose body arrives in two parts: `release` sends the rest; `reply` is what came back. */
const slowUpload = (url: string, body: string) => {
  const socket = Net.connect({ port: Number(new URL(url).port), host: "127.0.0.1" })
  let received = ""
  socket.on("data", (chunk) => {
    received += chunk.toString("utf8")
  })
  socket.on("error", () => {})
  socket.write(
    `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n` +
      body.slice(0, 3)
  )
  return {
    release: () => socket.write(body.slice(3)),
    reply: Effect.promise(async () => {
      const deadline = Date.now() + 20_000
      while (!/\r\n\r\n.+/s.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      socket.destroy()
      return received
    })
  }
}

class AdaptiveApi extends HttpApi.make("adaptive").add(
  HttpApiGroup.make("work").add(HttpApiEndpoint.get("ok", "/ok").addSuccess(Schema.String)).add(
    HttpApiEndpoint.get("busy", "/busy").addSuccess(Schema.String).addError(HttpApiError.ServiceUnavailable)
  )
) {}

/** The gauge `resilience_adaptive_limit` of the load shedder named `name`. */
const adaptiveLimit = (name: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((p) =>
      p.metricKey.name === "resilience_adaptive_limit" &&
      p.metricKey.tags.some((t) => t.key === "service" && t.value === name)
    )
    return (pair?.metricState as unknown as { value: number } | undefined)?.value
  })

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
      // the body's retryAfter is exact milliseconds (the header rounds up to seconds): decoded, a Duration
      expect(shed.json()).toEqual({ _tag: "ServiceOverloaded", reason: "full", retryAfter: 1500 })
      const decoded = Schema.decodeUnknownSync(LoadShedding.ServiceOverloaded)(shed.json())
      expect(ResilienceError.retryAfterOf(decoded)).toEqual(Option.some(Duration.millis(1500)))
      // health checks are never shed
      expect((yield* request(`${url}/health`)).status).toBe(200)
      // nor are the paths the router takes for it
      for (const variant of ["/HEALTH", "/health/", "//health", "/Health?x=1"]) {
        expect((yield* request(`${url}${variant}`)).status).toBe(200)
      }
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

  it.scopedLive("awaitBody: a request sending its body slowly holds no slot until the body has arrived", () =>
    Effect.gen(function*() {
      const url = yield* serveUpload({ maxInFlight: 1, maxQueued: 0, awaitBody: true })
      const slow = slowUpload(url, JSON.stringify({ n: 7 }))
      // the only slot stays free while the slow request is still sending its body (asked for a while: the
      // slow request arrives at some point, whatever the machine's speed)
      for (let i = 0; i < 5; i++) {
        yield* Effect.sleep("200 millis")
        expect(yield* post(url, JSON.stringify({ n: i }))).toEqual({ status: 200, body: String(i) })
      }
      slow.release()
      // and the body read before the slot is the one the handler decodes
      const reply = yield* slow.reply
      expect(reply).toMatch(/^HTTP\/1\.1 200/)
      expect(reply.endsWith("7")).toBe(true)
    }))

  it.scopedLive("without awaitBody a slow body holds its slot (the case awaitBody is for)", () =>
    Effect.gen(function*() {
      const url = yield* serveUpload({ maxInFlight: 1, maxQueued: 0 })
      const slow = slowUpload(url, JSON.stringify({ n: 7 }))
      // once the slow request has arrived, it holds the only slot
      let status = 0
      const deadline = Date.now() + 10_000
      while (status !== 503 && Date.now() < deadline) {
        yield* Effect.sleep("50 millis")
        status = (yield* post(url, JSON.stringify({ n: 1 }))).status
      }
      expect(status).toBe(503)
      slow.release()
      expect(yield* slow.reply).toMatch(/^HTTP\/1\.1 200/)
    }))

  it.scopedLive("adaptive: the limit follows the handlers (a 503 is a drop, AIMD halves), up to maxInFlight", () =>
    Effect.gen(function*() {
      const name = "load-shedding-adaptive"
      const url = yield* serveApi(
        HttpApiBuilder.api(AdaptiveApi).pipe(
          Layer.provide(
            HttpApiBuilder.group(AdaptiveApi, "work", (h) =>
              h.handle("ok", () => Effect.succeed("ok")).handle(
                "busy",
                () => Effect.fail(new HttpApiError.ServiceUnavailable())
              ))
          )
        ),
        LoadShedding.layer({
          name,
          maxInFlight: 8,
          adaptive: {
            algorithm: AdaptiveLimit.aimd({ backoffRatio: 0.5 }),
            minLimit: 1,
            initialLimit: 8,
            window: false
          }
        }).pipe(Layer.provide(StatusSources.layer))
      )
      expect(yield* adaptiveLimit(name)).toBe(8)
      // the handler's own 503 is passed on as it is, and counts as a drop
      expect((yield* request(`${url}/busy`)).status).toBe(503)
      expect(yield* adaptiveLimit(name)).toBe(4)
      expect((yield* request(`${url}/busy`)).status).toBe(503)
      expect(yield* adaptiveLimit(name)).toBe(2)
      // a success with half the limit in use: +1
      expect((yield* request(`${url}/ok`)).status).toBe(200)
      expect(yield* adaptiveLimit(name)).toBe(3)
    }))

  it.effect("rejects invalid options naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LoadShedding.make({ maxInFlight: 0 }))
      expect(error.option).toBe("maxInFlight")
      const adaptive = yield* Effect.flip(LoadShedding.make({ maxInFlight: 10, adaptive: { minLimit: 20 } }))
      expect({ policy: adaptive.policy, option: adaptive.option }).toEqual({
        policy: "LoadShedding",
        option: "adaptive.minLimit"
      })
    }))
})
