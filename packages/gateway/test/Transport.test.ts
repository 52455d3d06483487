import { HttpErrors } from "@effect-resilience/gateway"
import * as HttpTransport from "@effect-resilience/gateway/HttpTransport"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Logger, Option } from "effect"
import * as Net from "node:net"
import { startGateway } from "./utils/gateway.js"
import { ordersHead, send, stalledRequest } from "./utils/process.js"

const order = JSON.stringify({ symbol: "AAPL", side: "buy", qty: 1, type: "market" })

const typed = (body: string | undefined): { _tag: string; message: string } & Record<string, unknown> => {
  const json = JSON.parse(body ?? "null")
  expect(typeof json._tag).toBe("string")
  expect(typeof json.message).toBe("string")
  return json
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  send(url, "/orders", { method: "POST", body, headers })

/** A raw request (exact bytes); resolves with everything received once the server closes or `waitMillis` passes. */
const raw = (port: number, bytes: string, waitMillis = 5_000, localAddress?: string) =>
  new Promise<string>((resolve) => {
    const socket = Net.connect({ port, host: "127.0.0.1", ...(localAddress === undefined ? {} : { localAddress }) })
    let received = ""
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8")
    })
    socket.on("error", () => {})
    socket.on("close", () => resolve(received))
    setTimeout(() => {
      socket.destroy()
      resolve(received)
    }, waitMillis)
    socket.write(bytes)
  })

const bodyOf = (response: string) => response.slice(response.indexOf("\r\n\r\n") + 4)

describe("the transport guard (in process, loopback)", () => {
  it.scopedLive("bodies: 413 from the declared length, 411 chunked, 415 not JSON, 400 invalid or deep JSON, all typed", () =>
    Effect.gen(function*() {
      const url = yield* startGateway()
      const port = Number(new URL(url).port)

      const big = yield* Effect.promise(() => post(url, JSON.stringify({ pad: "x".repeat(5 * 1024 * 1024) })))
      expect(big.status).toBe(413)
      expect(typed(big.body)).toMatchObject({ _tag: "PayloadTooLarge", limitBytes: 64 * 1024 })

      const chunked = yield* Effect.promise(() =>
        raw(
          port,
          "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "2\r\n{}\r\n0\r\n\r\n"
        )
      )
      expect(chunked).toMatch(/^HTTP\/1\.1 411/)
      expect(typed(bodyOf(chunked))._tag).toBe("LengthRequired")

      const multipart = yield* Effect.promise(() =>
        post(url, "--x\r\nContent-Disposition: form-data; name=\"symbol\"\r\n\r\nAAPL\r\n--x--\r\n", {
          "content-type": "multipart/form-data; boundary=x"
        })
      )
      expect(multipart.status).toBe(415)
      expect(typed(multipart.body)._tag).toBe("UnsupportedMediaType")
      const text = yield* Effect.promise(() => post(url, order, { "content-type": "text/plain" }))
      expect(text.status).toBe(415)

      const invalid = yield* Effect.promise(() => post(url, "{\"symbol\": \"AAPL\""))
      expect(invalid.status).toBe(400)
      expect(typed(invalid.body)).toMatchObject({ _tag: "InvalidBody", reason: "invalid-json" })

      for (const deep of ["[".repeat(5000) + "]".repeat(5000), `{"symbol":${"[".repeat(50_000)}`]) {
        const reply = yield* Effect.promise(() => post(url, deep))
        expect(reply.status).toBe(400)
        expect(typed(reply.body)).toMatchObject({ _tag: "InvalidBody", reason: "too-deep" })
      }
      // brackets inside strings do not count
      expect(HttpTransport.jsonDepth(`{"a":"[[[[[[[[\\"[[[["}`, 3)).toBe(1)

      const unknown = yield* Effect.promise(() => send(url, "/no/such/route"))
      expect(unknown.status).toBe(404)
      expect(typed(unknown.body)).toMatchObject({ _tag: "NotFound", resource: "route" })

      // and a good order still goes through
      const placed = yield* Effect.promise(() => post(url, order))
      expect(placed.status).toBe(201)
    }))

  it.scopedLive("a body that stalls gets 408 RequestTimeout; an oversized head gets 431", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ server: { requestTimeout: Duration.seconds(1) } })
      const port = Number(new URL(url).port)
      const stalled = stalledRequest(port, ordersHead(200), "{\"symbol\":")
      // the answer arrives about a second later; wait for the outcome, not for a time
      const reply = yield* Effect.promise(() => stalled.closed)
      expect(reply).toMatch(/^HTTP\/1\.1 408/)
      expect(typed(bodyOf(reply))).toMatchObject({ _tag: "RequestTimeout", timeoutMillis: 1000 })

      const head = yield* Effect.promise(() =>
        raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)
      )
      expect(head).toMatch(/^HTTP\/1\.1 431/)
      expect(typed(bodyOf(head))._tag).toBe("HeadersTooLarge")
    }))

  it.scopedLive(
    "300 slowloris bodies hold no load-shedding slot: a fast client is still served, the slow ones get 408",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({
          loadShedding: { maxInFlight: 10, maxQueued: 0 },
          server: { requestTimeout: Duration.seconds(8) }
        })
        const port = Number(new URL(url).port)
        const slow = Array.from({ length: 300 }, () => stalledRequest(port, ordersHead(300), "{\"symbol\":\"AA"))
        yield* Effect.promise(() => Promise.all(slow.map((s) => s.connected)))
        yield* Effect.sleep("300 millis")

        const fast: Array<number> = []
        for (let i = 0; i < 10; i++) {
          const reads = yield* Effect.promise(() => send(url, "/positions", { headers: { "x-api-key": "fast" } }))
          const orders = yield* Effect.promise(() => post(url, order, { "x-api-key": "fast" }))
          fast.push(reads.status ?? 0, orders.status ?? 0)
        }
        expect(fast.filter((status) => status < 200 || status >= 300)).toEqual([])
        // every slow client is cut off, with a typed 408
        const replies = yield* Effect.promise(() => Promise.all(slow.map((s) => s.closed)))
        expect(replies.filter((r) => !r.startsWith("HTTP/1.1 408"))).toEqual([])
      }),
    60_000
  )

  it.scopedLive("event streams are capped per client IP (429) and in all (503), typed, and a closed stream frees its slot", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ server: { maxEventStreams: 3, maxEventStreamsPerClient: 2 } })
      const port = Number(new URL(url).port)
      const events = "GET /dashboard/events HTTP/1.1\r\nHost: x\r\n\r\n"
      const open = (localAddress: string) => {
        const socket = Net.connect({ port, host: "127.0.0.1", localAddress })
        let received = ""
        socket.on("data", (chunk) => {
          received += chunk.toString("utf8")
        })
        socket.on("error", () => {})
        socket.write(events)
        return { socket, received: () => received }
      }
      const waitFor = (what: () => string, pattern: RegExp) =>
        Effect.promise(async () => {
          const deadline = Date.now() + 20_000
          while (!pattern.test(what()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
          return what()
        })

      const a1 = open("127.0.0.1")
      const a2 = open("127.0.0.1")
      expect(yield* waitFor(a1.received, /event: init/)).toMatch(/^HTTP\/1\.1 200/)
      expect(yield* waitFor(a2.received, /event: init/)).toMatch(/^HTTP\/1\.1 200/)
      const a3 = yield* Effect.promise(() => raw(port, events, 5_000, "127.0.0.1").then((r) => r))
      expect(a3).toMatch(/^HTTP\/1\.1 429/)
      expect(a3.toLowerCase()).toContain("retry-after:")
      expect(typed(bodyOf(a3))).toMatchObject({ _tag: "TooManyStreams", scope: "client", limit: 2 })

      const b1 = open("127.0.0.2")
      expect(yield* waitFor(b1.received, /event: init/)).toMatch(/^HTTP\/1\.1 200/)
      const c1 = yield* Effect.promise(() => raw(port, events, 5_000, "127.0.0.3"))
      expect(c1).toMatch(/^HTTP\/1\.1 503/)
      expect(typed(bodyOf(c1))).toMatchObject({ _tag: "TooManyStreams", scope: "server", limit: 3 })

      // a client that goes away frees its slot
      a1.socket.destroy()
      const again = yield* Effect.promise(async () => {
        const deadline = Date.now() + 20_000
        while (Date.now() < deadline) {
          const c = open("127.0.0.3")
          const start = Date.now()
          while (!/event: init|^HTTP\/1\.1 [45]/.test(c.received()) && Date.now() - start < 5_000) {
            await new Promise((r) => setTimeout(r, 50))
          }
          if (c.received().includes("event: init")) {
            c.socket.destroy()
            return true
          }
          c.socket.destroy()
          await new Promise((r) => setTimeout(r, 200))
        }
        return false
      })
      expect(again).toBe(true)
      a2.socket.destroy()
      b1.socket.destroy()
    }))

  it.effect("a defect is answered 500 ServerError with a typed body, and logged exactly once", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(message))
      })
      const guarded = HttpTransport.guard({
        maxBodyBytes: 1024,
        maxJsonDepth: 8,
        requestTimeout: Duration.seconds(5),
        maxHeaderBytes: 16_384
      })(Effect.die(new Error("boom")) as HttpApp.Default<never, never>).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const handler = HttpApp.toWebHandler(guarded)
      const response = yield* Effect.promise(() => handler(new Request("http://localhost/orders")))
      expect(response.status).toBe(500)
      expect(yield* Effect.promise(() => response.json())).toMatchObject({ _tag: "ServerError", status: 500 })
      expect(lines.length).toBe(1)
      expect(lines[0]).toContain("GET /orders answered 500")

      // a typed failure that already has a body is left alone, and not logged
      const ok = HttpApp.toWebHandler(
        HttpTransport.guard({
          maxBodyBytes: 1024,
          maxJsonDepth: 8,
          requestTimeout: Duration.seconds(5),
          maxHeaderBytes: 16_384
        })(
          Effect.succeed(
            HttpErrors.transportErrorResponse(new HttpErrors.BadRequest({ message: "no" }), 400)
          ) as Effect.Effect<HttpServerResponse.HttpServerResponse>
        )
      )
      const bad = yield* Effect.promise(() => ok(new Request("http://localhost/x")))
      expect(bad.status).toBe(400)
      expect(yield* Effect.promise(() => bad.json())).toEqual({ _tag: "BadRequest", message: "no" })
    }))

  it.live("ownFiber keeps a deadline inside the finalizer of an interrupted fiber (as on SIGTERM)", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.make<Option.Option<never>>()
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        yield* Effect.addFinalizer(() =>
          Effect.flatMap(
            HttpTransport.ownFiber(Effect.timeoutOption(Effect.never, "100 millis")),
            (o) => Deferred.succeed(result, o)
          )
        )
        yield* Deferred.succeed(started, undefined)
        return yield* Effect.never
      })))
      yield* Deferred.await(started)
      // the finalizer runs uninterruptibly in an interrupted fiber: its timeout still fires, so this returns
      yield* Fiber.interrupt(fiber)
      expect(yield* Deferred.await(result)).toEqual(Option.none())
    }))
})
