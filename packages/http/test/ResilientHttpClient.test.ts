import { ResilientHttpClient, StatusSources } from "@effect-resilience/http"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, TestClock } from "effect"
import type * as Http from "node:http"
import { serveRaw } from "./utils/harness.js"

/** An upstream that answers each request with the next behaviour of a script (the last one repeats). */
const upstream = (script: ReadonlyArray<(req: Http.IncomingMessage, res: Http.ServerResponse) => void>) =>
  Effect.gen(function*() {
    const hits: Array<string> = []
    const url = yield* serveRaw((req, res) => {
      const step = script[Math.min(hits.length, script.length - 1)]
      hits.push(`${req.method} ${req.url}`)
      req.resume()
      step(req, res)
    })
    return { url, hits }
  })

const status =
  (code: number, headers: Record<string, string> = {}) => (_: Http.IncomingMessage, res: Http.ServerResponse) => {
    res.writeHead(code, { "content-type": "text/plain", ...headers })
    res.end(String(code))
  }
const reset = (req: Http.IncomingMessage) => req.socket.destroy()
const hang = () => {}

const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    // a per-attempt timeout far above any loopback answer, however busy the machine
    const resilient = yield* ResilientHttpClient.make({ baseDelay: "5 millis", timeout: "10 seconds", ...options })
    return resilient(client)
  }).pipe(Effect.provide(NodeHttpClient.layer))

describe("ResilientHttpClient", () => {
  it.scopedLive("retries 503s and returns the first success", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(503), status(503), status(200)])
      const client = yield* clientWith({})
      const response = yield* client.get(`${url}/quote`)
      expect(response.status).toBe(200)
      expect(hits.length).toBe(3)
    }))

  it.scopedLive("returns the last retryable response when retries run out", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(502)])
      const client = yield* clientWith({ maxRetries: 2, breaker: false })
      expect((yield* client.get(url)).status).toBe(502)
      expect(hits.length).toBe(3)
    }))

  // On the TestClock (the upstream is real; only the wait is on Effect's
  // Clock): the retry is not sent 1 ms before the Retry-After, and is sent at it.
  it.scoped("waits exactly the Retry-After of a 429 (delta-seconds and HTTP-date)", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(429, { "retry-after": "1" }), status(200)])
      const client = yield* clientWith({})
      const call = yield* Effect.fork(client.get(url))
      const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
      // the first attempt is answered 429 and the client sleeps on the clock
      // (the other sleep is the attempt's timeout, at 10 s)
      const waitingForRetry = Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (at) => at < 10_000))
      while (!(yield* waitingForRetry)) yield* realSleep(10)
      yield* TestClock.adjust("999 millis")
      // a retry sent early would reach the upstream within this (real) second
      yield* realSleep(1000)
      expect(hits.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(call)).status).toBe(200)
      expect(hits.length).toBe(2)
      expect(ResilientHttpClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.UTC(2015, 9, 21, 7, 27, 58)))
        .toBe(2000)
      expect(ResilientHttpClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.UTC(2016, 0, 1))).toBe(0)
      expect(ResilientHttpClient.parseRetryAfter("soon", 0)).toBeUndefined()
      expect(ResilientHttpClient.parseRetryAfter("-5", 0)).toBeUndefined()
    }))

  it.scopedLive("does not wait for a Retry-After beyond the cap: the response is returned at once", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(503, { "retry-after": "120" }), status(200)])
      const client = yield* clientWith({ maxRetryAfter: "5 seconds" })
      const response = yield* client.get(url)
      expect(response.status).toBe(503)
      expect(response.headers["retry-after"]).toBe("120")
      expect(hits.length).toBe(1)
    }))

  it.scopedLive("retries connection resets", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([reset, reset, status(200)])
      const client = yield* clientWith({})
      expect((yield* client.get(url)).status).toBe(200)
      expect(hits.length).toBe(3)
    }))

  it.scopedLive("times out each attempt of a hanging upstream, then fails with TimeoutError", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([hang])
      // seconds per attempt: every attempt reaches the upstream before it is timed out, however busy the machine
      const client = yield* clientWith({ timeout: "2 seconds", maxRetries: 2, breaker: false })
      const start = Date.now()
      const error = yield* Effect.flip(client.get(url))
      expect(error._tag).toBe("TimeoutError")
      expect(hits.length).toBe(3)
      // each attempt waited its own timeout (never early; how late depends on the machine)
      expect(Date.now() - start).toBeGreaterThanOrEqual(3 * 2000 - 3)
    }))

  it.scopedLive("opens the host's breaker: later calls fail fast without reaching the upstream", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(503)])
      const sources = yield* StatusSources.make
      const client = yield* clientWith({ maxRetries: 1, breaker: { failureThreshold: 3, resetTimeout: "10 seconds" } })
        .pipe(Effect.provideService(StatusSources.StatusSources, sources))
      expect((yield* client.get(url)).status).toBe(503) // attempts 1, 2
      const second = yield* Effect.exit(client.get(url)) // attempt 3 trips the breaker, the retry is rejected
      expect(hits.length).toBe(3)
      expect(Exit.isFailure(second) && JSON.stringify(second.cause)).toContain("CircuitOpenError")
      const third = yield* Effect.flip(client.get(url))
      expect(third._tag).toBe("CircuitOpenError")
      expect(hits.length).toBe(3)
      const [snapshot] = yield* sources.breakers
      expect(snapshot.state).toBe("Open")
      expect(snapshot.resource).toBe(url.slice("http://".length))
    }))

  it.scopedLive("never retries a POST without an idempotency key; retries one with it", () =>
    Effect.gen(function*() {
      const { hits, url } = yield* upstream([status(503)])
      const client = yield* clientWith({ maxRetries: 2, breaker: false })
      expect((yield* client.execute(HttpClientRequest.post(`${url}/orders`))).status).toBe(503)
      expect(hits.length).toBe(1)
      const keyed = HttpClientRequest.post(`${url}/orders`).pipe(HttpClientRequest.setHeader("Idempotency-Key", "o-1"))
      expect((yield* client.execute(keyed)).status).toBe(503)
      expect(hits.length).toBe(4)
      // a PATCH is not retried either, not even on a reset connection
      const resets = yield* upstream([reset])
      const error = yield* Effect.flip(client.execute(HttpClientRequest.patch(resets.url)))
      expect(error._tag).toBe("RequestError")
      expect(resets.hits.length).toBe(1)
    }))

  it.effect("rejects invalid options naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ retryOn: [999] })))
      expect(error.option).toBe("retryOn")
      const negative = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ maxRetries: -1 })))
      expect(negative.option).toBe("maxRetries")
    }))
})
