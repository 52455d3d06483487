import { Retry } from "@effect-resilience/core"
import { ResilientHttpClient, StatusSources } from "@effect-resilience/http"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Clock,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Metric,
  MetricLabel,
  Random,
  TestClock
} from "effect"
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
  it.scoped("waits the Retry-After of a 429, not 1 ms less (it is longer than the backoff)", () =>
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
      // the HTTP-date form and malformed values: RetryAfter.test.ts (the parser is http's `RetryAfter`)
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

  describe("on core's Retry (an in-memory upstream, on the TestClock)", () => {
    /** An HttpClient whose upstream answers the nth request with `script[n]` (the last repeats), recording when each came. */
    const scripted = (script: ReadonlyArray<readonly [number, Record<string, string>?]>) => {
      const times: Array<number> = []
      const client = HttpClient.make((request) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const [code, headers] = script[Math.min(times.length, script.length - 1)]
          times.push(now)
          return HttpClientResponse.fromWeb(
            request,
            new Response(String(code), { status: code, headers: headers ?? {} })
          )
        })
      )
      return { client, times }
    }

    /** The status of a GET through the client made with `options`, once the clock has moved far enough for every retry. */
    const get = (client: HttpClient.HttpClient, options: ResilientHttpClient.Options) =>
      Effect.gen(function*() {
        const resilient = (yield* ResilientHttpClient.make({ breaker: false, ...options }))(client)
        const fiber = yield* Effect.fork(Effect.map(resilient.get("http://upstream.test/quote"), (r) => r.status))
        yield* TestClock.adjust("1 hour")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.scoped)

    it.effect.prop(
      "the retries wait what Retry.schedule waits for the same options (equal jitter, doubling, capped)",
      {
        seed: fc.integer(),
        maxRetries: fc.integer({ min: 0, max: 5 }),
        base: fc.integer({ min: 1, max: 500 }),
        extra: fc.integer({ min: 0, max: 3000 })
      },
      ({ base, extra, maxRetries, seed }) =>
        Effect.gen(function*() {
          const upstream = scripted([[503]])
          const options = { maxRetries, baseDelay: base, maxDelay: base + extra }
          const status = yield* get(upstream.client, options).pipe(Effect.withRandom(Random.make(seed)))
          expect(status).toBe(503) // the last retryable response, as is
          expect(upstream.times).toHaveLength(maxRetries + 1)
          // the same schedule on a plain failing effect, from the same draws
          const schedule = yield* Retry.schedule({ ...options, factor: 2, jitter: "equal" })
          const times: Array<number> = []
          const failing = Effect.flatMap(Clock.currentTimeMillis, (now) => {
            times.push(now)
            return Effect.fail("503")
          })
          const fiber = yield* Effect.fork(Effect.exit(Effect.retry(failing, schedule))).pipe(
            Effect.withRandom(Random.make(seed))
          )
          yield* TestClock.adjust("1 hour")
          yield* Fiber.join(fiber)
          const gaps = (at: ReadonlyArray<number>) => at.slice(1).map((t, i) => t - at[i])
          expect(gaps(upstream.times)).toEqual(gaps(times))
        }),
      { fastCheck: { numRuns: 15 } }
    )

    it.effect("a Retry-After is waited for (never less), up to maxRetryAfter even above maxDelay; in both forms", () =>
      Effect.gen(function*() {
        // 3 s > the 1 s backoff cap, <= maxRetryAfter
        const seconds = scripted([[429, { "retry-after": "3" }], [200]])
        expect(yield* get(seconds.client, { baseDelay: "5 millis", maxDelay: "1 second", maxRetryAfter: "5 seconds" }))
          .toBe(200)
        expect(seconds.times.map((t) => t - seconds.times[0])).toEqual([0, 3000])
        // an HTTP-date, against the clock: 2 s from the first answer
        const start = yield* Clock.currentTimeMillis
        const date = new Date(Math.floor(start / 1000) * 1000 + 2000).toUTCString()
        const dated = scripted([[503, { "retry-after": date }], [200]])
        expect(yield* get(dated.client, { baseDelay: "5 millis" })).toBe(200)
        expect(dated.times[1] - dated.times[0]).toBeGreaterThanOrEqual(1000)
        expect(dated.times[1]).toBe(Math.floor(start / 1000) * 1000 + 2000)
        // a Retry-After shorter than the backoff: the backoff (never sooner than either)
        const short = scripted([[503, { "retry-after": "0" }], [200]])
        expect(yield* get(short.client, { baseDelay: "2 seconds", maxRetries: 1 })).toBe(200)
        const gap = short.times[1] - short.times[0]
        expect(gap).toBeGreaterThanOrEqual(1000) // equal jitter: at least half of 2 s
        expect(gap).toBeLessThanOrEqual(2000)
      }))

    it.effect("a URL whose host cannot name a breaker (empty, huge) is a typed failure or an answer, never a defect", () =>
      Effect.gen(function*() {
        const upstream = scripted([[200]])
        const resilient = (yield* ResilientHttpClient.make({ baseDelay: "5 millis" }))(upstream.client)
        for (const url of ["http:///quote", `http://${"a".repeat(300)}.test/quote`]) {
          const exit = yield* Effect.exit(Effect.map(resilient.get(url), (r) => r.status))
          expect(Exit.isFailure(exit) && Cause.isDie(exit.cause), url).toBe(false)
        }
      }).pipe(Effect.scoped))

    it.effect("keeps at most maxHosts breakers: evicts the least recently used idle Closed one, never an Open or busy one", () =>
      Effect.gen(function*() {
        // answers by host: "down" always 503, "slow" never answers, the rest 200
        const client = HttpClient.make((request) => {
          const host = new URL(request.url).host
          if (host === "slow.test") return Effect.never
          const code = host === "down.test" ? 503 : 200
          return Effect.succeed(HttpClientResponse.fromWeb(request, new Response(String(code), { status: code })))
        })
        const sources = yield* StatusSources.make
        const resilient = (yield* ResilientHttpClient.make({
          maxHosts: 2,
          maxRetries: 0,
          timeout: "1 hour",
          breaker: { failureThreshold: 1 }
        }).pipe(Effect.provideService(StatusSources.StatusSources, sources)))(client)
        const get = (host: string) => Effect.exit(resilient.get(`http://${host}/quote`))
        const names = Effect.map(sources.breakers, (snapshots) => snapshots.map((b) => b.resource).sort())

        yield* get("a.test")
        yield* get("b.test")
        yield* get("a.test") // a is now the most recently used: b goes first
        yield* get("c.test")
        expect(yield* names).toEqual(["a.test", "c.test"])

        yield* get("down.test") // evicts a (idle, Closed), then opens
        expect(yield* names).toEqual(["c.test", "down.test"])
        const slow = yield* Effect.fork(get("slow.test")) // evicts c: down is Open, so kept
        yield* TestClock.adjust("1 second")
        expect(yield* names).toEqual(["down.test", "slow.test"])
        // down is Open and slow has a call in flight: neither is evicted, the new host shares "overflow"
        yield* get("e.test")
        expect(yield* names).toEqual(["down.test", "overflow", "slow.test"])
        const rejected = yield* get("down.test") // its Open state was not forgotten
        expect(Exit.isFailure(rejected) && JSON.stringify(rejected.cause)).toContain("CircuitOpenError")
        yield* Fiber.interrupt(slow)
      }).pipe(Effect.scoped))

    it.effect("counts each retry in retriesTotal by host and reason", () =>
      Effect.gen(function*() {
        const count = (reason: string) =>
          Effect.map(
            Metric.value(
              Metric.taggedWithLabels(ResilientHttpClient.retriesTotal, [
                MetricLabel.make("policy", "http_client"),
                MetricLabel.make("service", "http-client"),
                MetricLabel.make("operation", "request"),
                MetricLabel.make("host", "upstream.test"),
                MetricLabel.make("reason", reason)
              ])
            ),
            (state) => state.count
          )
        // the counters are process-wide: compare with before
        const before = [yield* count("503"), yield* count("502"), yield* count("200")]
        const upstream = scripted([[503], [502], [200]])
        expect(yield* get(upstream.client, { baseDelay: "5 millis" })).toBe(200)
        expect([yield* count("503"), yield* count("502"), yield* count("200")]).toEqual([
          before[0] + 1,
          before[1] + 1,
          before[2]
        ])
      }))
  })

  it.effect("rejects invalid options naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ retryOn: [999] })))
      expect(error.option).toBe("retryOn")
      const negative = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ maxRetries: -1 })))
      expect(negative.option).toBe("maxRetries")
      const hosts = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ maxHosts: 0 })))
      expect(hosts.option).toBe("maxHosts")
    }))
})
