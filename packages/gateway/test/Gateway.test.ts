import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { eventually, request, startGateway } from "./utils/gateway.js"

const breakerState = (url: string, name: string) =>
  Effect.map(
    request(url, "/resilience/status", { key: "status-reader" }),
    (r) => (r.body.breakers as Array<{ name: string; state: string }>).find((b) => b.name === name)?.state
  )

describe("gateway end to end (loopback)", () => {
  it.scopedLive("places, reads and cancels orders; serves positions, account, quotes and bars", () =>
    Effect.gen(function*() {
      const url = yield* startGateway()
      const placed = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "AAPL", side: "buy", qty: 3, type: "market" }
      })
      expect(placed.status).toBe(201)
      expect(placed.body.status).toBe("filled")
      expect(placed.body.clientOrderId).toMatch(/^gw-/)

      const byId = yield* request(url, `/orders/${placed.body.id}`)
      expect(byId.status).toBe(200)
      expect(byId.body.clientOrderId).toBe(placed.body.clientOrderId)
      const byClientId = yield* request(url, `/orders/by-client-id/${placed.body.clientOrderId}`)
      expect(byClientId.body.id).toBe(placed.body.id)

      // a limit far below the market rests, so it can be cancelled
      const resting = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "MSFT", side: "buy", qty: 1, type: "limit", limitPrice: 1, clientOrderId: "my-order-1" }
      })
      expect(resting.status).toBe(201)
      expect(resting.body).toMatchObject({ status: "accepted", clientOrderId: "my-order-1" })
      const open = yield* request(url, "/orders")
      expect(open.body.map((o: { id: string }) => o.id)).toEqual([resting.body.id])
      expect((yield* request(url, `/orders/${resting.body.id}`, { method: "DELETE" })).status).toBe(204)
      const again = yield* request(url, `/orders/${resting.body.id}`, { method: "DELETE" })
      expect(again.status).toBe(422)
      expect(again.body._tag).toBe("OrderRejected")

      const positions = yield* request(url, "/positions")
      expect(positions.body).toEqual([expect.objectContaining({ symbol: "AAPL", qty: 3, side: "long" })])
      const account = yield* request(url, "/account")
      expect(account.status).toBe(200)
      expect(account.body.cash).toBeLessThan(100_000)

      const quote = yield* request(url, "/marketdata/quote/spy")
      expect(quote.status).toBe(200)
      expect(quote.body.symbol).toBe("SPY")
      expect(quote.body.bid).toBeLessThan(quote.body.ask)
      const bars = yield* request(url, "/marketdata/bars/AAPL?timeframe=1h&limit=5")
      expect(bars.status).toBe(200)
      expect(bars.body).toHaveLength(5)
      expect(bars.body[0]).toMatchObject({ symbol: "AAPL", timeframe: "1h" })

      // the provider clients register their bulkheads beside the server's load-shedding one
      const status = yield* request(url, "/resilience/status", { key: "status-reader" })
      const bulkheads = status.body.bulkheads as Array<{ name: string; maxConcurrent: number; maxWaiting: number }>
      expect(bulkheads).toEqual(expect.arrayContaining([
        expect.objectContaining({ name: "simulated/broker_api", maxConcurrent: 10, maxWaiting: 20, active: 0 }),
        expect.objectContaining({ name: "simulated/order_execution", maxConcurrent: 5, maxWaiting: 10, active: 0 }),
        expect.objectContaining({ name: "simulated/market_data", maxConcurrent: 20, maxWaiting: 40, active: 0 })
      ]))
    }))

  it.scopedLive("answers bad requests with typed errors (404, 422, 400)", () =>
    Effect.gen(function*() {
      const url = yield* startGateway()
      const unknown = yield* request(url, "/marketdata/quote/NOPE")
      expect(unknown.status).toBe(404)
      expect(unknown.body).toMatchObject({ _tag: "NotFound", resource: "symbol", id: "NOPE" })
      const rejected = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "NOPE", side: "buy", qty: 1, type: "market" }
      })
      expect(rejected.status).toBe(422)
      expect(rejected.body._tag).toBe("OrderRejected")
      const tooBig = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "SPY", side: "buy", qty: 1_000_000, type: "market" }
      })
      expect(tooBig.status).toBe(422)
      const malformed = yield* request(url, "/orders", { method: "POST", body: { symbol: "SPY", side: "hold" } })
      expect(malformed.status).toBe(400)
      const badTimeframe = yield* request(url, "/marketdata/bars/AAPL?timeframe=7m")
      expect(badTimeframe.status).toBe(400)
      expect((yield* request(url, "/orders/sim-999")).status).toBe(404)
    }))

  it.scopedLive("serves the OpenAPI document, Swagger, metrics, and redirects / to the dashboard", () =>
    Effect.gen(function*() {
      const url = yield* startGateway()
      const spec = yield* request(url, "/openapi.json")
      expect(spec.status).toBe(200)
      expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining([
        "/orders",
        "/orders/{id}",
        "/positions",
        "/account",
        "/marketdata/bars/{symbol}",
        "/marketdata/quote/{symbol}",
        "/admin/faults",
        "/resilience/status",
        "/metrics"
      ]))
      expect(Object.keys(spec.body.paths["/orders"].post.responses)).toEqual(
        expect.arrayContaining(["201", "422", "429", "503", "504"])
      )
      const swagger = yield* request(url, "/docs")
      expect(swagger.status).toBe(200)
      expect(String(swagger.body)).toContain("SwaggerUIBundle")
      yield* request(url, "/marketdata/quote/AAPL")
      const metrics = yield* request(url, "/metrics")
      expect(String(metrics.body)).toContain("resilience_circuit_breaker_calls_total")
      const root = yield* Effect.promise(() => fetch(url + "/", { redirect: "manual" }))
      expect(root.status).toBe(302)
      expect(root.headers.get("location")).toBe("/dashboard")
    }))

  it.scopedLive("rate limits per configured API key (falling back to the client IP): 429 with Retry-After and RateLimit headers", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ rateLimit: { tokensPerSecond: 1, burstSize: 5, apiKeys: ["alice", "bob"] } })
      const replies = yield* Effect.all(
        Array.from({ length: 8 }, () => request(url, "/marketdata/quote/AAPL", { key: "alice" })),
        { concurrency: "unbounded" }
      )
      const statuses = replies.map((r) => r.status).sort()
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
      const limited = replies.find((r) => r.status === 429)!
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect(limited.headers.get("ratelimit-policy")).toContain("\"client\";q=5")
      expect(limited.headers.get("ratelimit")).toMatch(/"client";r=0;t=\d+/)
      expect(limited.body._tag).toBe("RateLimitedError")
      const ok = replies.find((r) => r.status === 200)!
      expect(ok.headers.get("ratelimit")).toMatch(/"client";r=\d+;t=\d+/)
      // another key has its own bucket; no key falls back to the IP's bucket
      expect((yield* request(url, "/marketdata/quote/AAPL", { key: "bob" })).status).toBe(200)
      expect((yield* request(url, "/marketdata/quote/AAPL")).status).toBe(200)
      // a key that is not configured is refused
      const unknown = yield* request(url, "/marketdata/quote/AAPL", { key: "mallory" })
      expect(unknown.status).toBe(401)
      expect(unknown.body._tag).toBe("Unauthorized")
      // health checks are exempt
      expect((yield* request(url, "/health", { key: "alice" })).status).toBe(200)
    }))

  it.scopedLive("a broker outage trips the breaker (503 + Retry-After, shown on /resilience/status), and it recovers", () =>
    Effect.gen(function*() {
      // a reset timeout of seconds: the checks while it is Open cannot outlast it
      const url = yield* startGateway({ simulated: { resetTimeout: Duration.seconds(3) } })
      expect((yield* request(url, "/account")).status).toBe(200)
      expect(yield* breakerState(url, "simulated/broker_api")).toBe("Closed")

      const injected = yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "broker", kind: "outage" }
      })
      expect(injected.status).toBe(200)
      expect(injected.body.broker.outage).toBe(true)
      expect(injected.body.marketdata.outage).toBe(false)

      // the first call fails after its retries (502); the breaker then rejects at once
      const rejected = yield* eventually(
        "a 503 CircuitOpen",
        request(url, "/account"),
        (r) => r.status === 503
      )
      expect(rejected.body).toMatchObject({ _tag: "CircuitOpen", breaker: "simulated/broker_api", state: "Open" })
      expect(Number(rejected.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect(yield* breakerState(url, "simulated/broker_api")).toBe("Open")
      // market data is another provider: unaffected
      expect((yield* request(url, "/marketdata/quote/AAPL")).status).toBe(200)
      expect(yield* breakerState(url, "simulated/market_data")).toBe("Closed")

      expect((yield* request(url, "/admin/faults", { method: "DELETE" })).status).toBe(200)
      const recovered = yield* eventually(
        "the broker to answer again",
        request(url, "/account"),
        (r) => r.status === 200
      )
      expect(recovered.body.currency).toBe("USD")
      expect(yield* breakerState(url, "simulated/broker_api")).toBe("Closed")
      const state = yield* request(url, "/dashboard/state")
      const transitions: Array<{ to: string; seq: number }> = state.body.state.history["simulated/broker_api"]
      expect(transitions.map((t) => t.to)).toEqual(["Open", "HalfOpen", "Closed"])
      // a sequence number orders them even within one millisecond
      const seqs = transitions.map((t) => t.seq)
      expect(seqs.every((seq, i) => Number.isInteger(seq) && (i === 0 || seq > seqs[i - 1]!))).toBe(true)
    }))

  it.scopedLive("while the market-data breaker is open, a quote is the last good one marked stale; without one, 503", () =>
    Effect.gen(function*() {
      // the breaker stays open for the whole test; a stale quote is served up to a minute old
      const url = yield* startGateway({
        simulated: { resetTimeout: Duration.seconds(60) },
        marketDataPolicy: { staleQuoteMaxAge: Duration.seconds(60) }
      })
      const fresh = yield* request(url, "/marketdata/quote/AAPL")
      expect(fresh.status).toBe(200)
      expect(fresh.body.stale).toBeUndefined()
      expect(fresh.headers.get("quote-stale")).toBeNull()

      yield* request(url, "/admin/faults", { method: "POST", body: { target: "marketdata", kind: "outage" } })
      // MSFT was never quoted: its calls fail (502 after retries) until the breaker opens (503)
      const rejected = yield* eventually(
        "a 503 CircuitOpen",
        request(url, "/marketdata/quote/MSFT"),
        (r) => r.status === 503
      )
      expect(rejected.body).toMatchObject({ _tag: "CircuitOpen", breaker: "simulated/market_data", state: "Open" })
      expect(yield* breakerState(url, "simulated/market_data")).toBe("Open")

      const stale = yield* request(url, "/marketdata/quote/aapl")
      expect(stale.status).toBe(200)
      expect(stale.body).toMatchObject({
        symbol: "AAPL",
        price: fresh.body.price,
        timestamp: fresh.body.timestamp,
        stale: true
      })
      expect(stale.body.ageMillis).toBeGreaterThan(0)
      expect(stale.body.ageMillis).toBeLessThanOrEqual(60_000)
      expect(stale.headers.get("quote-stale")).toBe("true")
      expect(Number(stale.headers.get("age"))).toBe(Math.floor(stale.body.ageMillis / 1000))
      // bars have no stale answer: the breaker's error, typed
      const bars = yield* request(url, "/marketdata/bars/AAPL?limit=1")
      expect(bars.status).toBe(503)
      expect(bars.body._tag).toBe("CircuitOpen")
    }))

  it.scopedLive("lost order replies never duplicate an order: lookups resolve them, the book has one order per id", () =>
    Effect.gen(function*() {
      // a lost reply hangs 10 s, the broker's timeout is 2 s: an answered call
      // is never mistaken for a lost one, however busy the machine
      const url = yield* startGateway({ simulated: { timeout: Duration.seconds(2) } })
      yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "broker", kind: "timeout-after-accept", rate: 0.5, millis: 10_000 }
      })
      const replies = yield* Effect.all(
        Array.from({ length: 6 }, (_, i) =>
          request(url, "/orders", {
            method: "POST",
            body: { symbol: "SPY", side: i % 2 === 0 ? "buy" : "sell", qty: 1, type: "market" }
          })),
        { concurrency: 3 }
      )
      for (const r of replies) expect([201, 504]).toContain(r.status)
      expect(replies.filter((r) => r.status === 201).length).toBeGreaterThan(0)
      const book = yield* request(url, "/admin/broker/book")
      expect(book.body.duplicates).toBe(0)
      expect(book.body.distinctClientOrderIds).toBe(book.body.orders)
      // the fault fired: some replies were lost and looked up by client order id
      expect(book.body.calls.getOrderByClientOrderId).toBeGreaterThan(0)
    }))

  it.scopedLive("sheds load beyond the server's capacity with 503 ServiceOverloaded", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({
        loadShedding: { maxInFlight: 2, maxQueued: 0 },
        simulated: { timeout: Duration.seconds(20) }
      })
      // seconds of latency: the six requests overlap however slowly they arrive
      yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "marketdata", kind: "latency", millis: 3_000 }
      })
      const replies = yield* Effect.all(
        Array.from({ length: 6 }, () => request(url, "/marketdata/quote/AAPL", { key: "load" })),
        { concurrency: "unbounded" }
      )
      const shed = replies.filter((r) => r.status === 503)
      expect(replies.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2)
      expect(shed.length).toBeGreaterThan(0)
      expect(shed[0]!.body._tag).toBe("ServiceOverloaded")
      expect(shed[0]!.headers.get("retry-after")).toBe("1")
      // health is exempt from shedding
      expect((yield* request(url, "/health")).status).toBe(200)
    }))

  it.scopedLive("faults can only target simulated providers, and the admin API can be turned off", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ admin: false })
      const refused = yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "broker", kind: "outage" }
      })
      expect(refused.status).toBe(409)
      expect((yield* request(url, "/account")).status).toBe(200)
      const bad = yield* request(url, "/admin/faults", { method: "POST", body: { target: "broker", kind: "meteor" } })
      expect(bad.status).toBe(400)
    }))
})
