import { Models, Simulated } from "@effect-resilience/clients"
import { Api, Handlers } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { request, startGateway } from "./utils/gateway.js"

const stats = (url: string) =>
  Effect.map(
    request(url, "/admin/marketdata/stats"),
    (r) => r.body as { readonly barsGenerated: number; readonly barsCalls: number }
  )

// These tests count the bars one call computes: with the gateway's default hedging on, they also show
// that bars reads are not hedged (a hedged large query would compute its bars twice).
const unlimited = {
  rateLimit: { tokensPerSecond: 100_000, burstSize: 100_000, globalTokensPerSecond: 0 }
}

describe("bounded work and typed errors for every input", () => {
  it.effect("bars are encoded by hand exactly as Schema encodes them, in chunks", () =>
    Effect.gen(function*() {
      const { api } = yield* Simulated.makeMarketData()
      const bars = yield* api.bars("EURUSD", "5m", { limit: 2_345 })
      expect(bars.map(Handlers.encodeBar)).toEqual(Schema.encodeSync(Schema.Array(Models.Bar))(bars))
      const response = yield* Handlers.barsResponse(bars)
      const body = response.body._tag === "Uint8Array" ? new TextDecoder().decode(response.body.body) : ""
      expect(JSON.parse(body)).toEqual(Schema.encodeSync(Schema.Array(Models.Bar))(bars))
      const empty = yield* Handlers.barsResponse([])
      expect(empty.body._tag === "Uint8Array" && new TextDecoder().decode(empty.body.body)).toBe("[]")
    }).pipe(Effect.provide(Simulated.layerFaults())))

  it("query dates: ISO 8601 dates and date-times, every field range-checked, 1970–2099", () => {
    expect(Api.parseQueryDate("2025-12-07")?.toISOString()).toBe("2025-12-07T00:00:00.000Z")
    expect(Api.parseQueryDate("2025-12-07T10:30")?.toISOString()).toBe("2025-12-07T10:30:00.000Z")
    expect(Api.parseQueryDate("2025-12-07T10:30:15.5+02:00")?.toISOString()).toBe("2025-12-07T08:30:15.500Z")
    expect(Api.parseQueryDate("2024-02-29")?.toISOString()).toBe("2024-02-29T00:00:00.000Z")
    for (
      const bad of ["2025-02-29", "2026-13-45", "2026-04-31", "yesterday", "0", "2025-1-1", "1969-12-31", "2100-01-01"]
    ) {
      expect(Api.parseQueryDate(bad), bad).toBeUndefined()
    }
  })

  it.scopedLive("a year of minute bars with limit=1 computes one bar, and /health answers beside the largest queries", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      const year = yield* request(url, "/marketdata/bars/AAPL?timeframe=1m&from=2025-12-07&limit=1")
      expect(year.status).toBe(200)
      expect(year.body).toHaveLength(1)
      expect((yield* stats(url)).barsGenerated).toBe(1)

      // 20 maximal queries in flight; health still answers (no deadline asserted: an outcome)
      const heavy = yield* Effect.fork(Effect.all(
        Array.from(
          { length: 20 },
          () => request(url, "/marketdata/bars/AAPL?timeframe=1m&from=1975-01-01&limit=10000")
        ),
        { concurrency: "unbounded" }
      ))
      expect((yield* request(url, "/health")).status).toBe(200)
      const replies = yield* Fiber.join(heavy)
      // Interleaved, 20 maximal queries may outlast the provider's timeout on a busy machine: a typed 503/504 then.
      for (const r of replies) {
        expect([200, 503, 504]).toContain(r.status)
        if (r.status === 200) expect(r.body).toHaveLength(10_000)
        else expect(typeof r.body._tag).toBe("string")
      }
      // at most limit bars per attempt (the client's policy makes up to 3 attempts)
      expect((yield* stats(url)).barsGenerated).toBeLessThanOrEqual(1 + 3 * 20 * 10_000)
    }))

  it.scopedLive(
    "over the query space, the bars computed are the bars returned, never more than min(limit, 10,000)",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway(unlimited)
        let before = (yield* stats(url)).barsGenerated
        const rows: Array<string> = []
        for (const timeframe of ["1m", "5m", "15m", "1h", "1d"]) {
          for (const from of [undefined, "2025-12-01", "1970-01-01T00:00:00Z"]) {
            for (const to of [undefined, "2025-12-06T12:00:00Z", "2099-12-31"]) {
              for (const limit of [undefined, 1, 250, 10_000]) {
                const query = [
                  `timeframe=${timeframe}`,
                  ...(from === undefined ? [] : [`from=${from}`]),
                  ...(to === undefined ? [] : [`to=${to}`]),
                  ...(limit === undefined ? [] : [`limit=${limit}`])
                ].join("&")
                const r = yield* request(url, `/marketdata/bars/SPY?${query}`)
                expect(r.status, query).toBe(200)
                const after = (yield* stats(url)).barsGenerated
                expect(after - before, query).toBe(r.body.length)
                expect(r.body.length, query).toBeLessThanOrEqual(Math.min(limit ?? Infinity, 10_000))
                before = after
                rows.push(query)
              }
            }
          }
        }
        expect(rows).toHaveLength(5 * 3 * 3 * 4)
      }),
    120_000
  )

  it.scopedLive("query parameters beyond their documented maximum, and dates that name no day, are typed 400s", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      const bad = [
        "limit=0",
        "limit=10001",
        "limit=-1",
        "limit=1.5",
        "limit=abc",
        "limit=1e308",
        "from=yesterday",
        "to=2026-13-45",
        "from=2026-02-30",
        "from=2025-02-29",
        "from=0",
        "from=1969-12-31",
        "to=2100-01-01",
        "from=2025-12-07T25:00:00Z",
        "from=2025-12-07T10:00:00+24:00",
        `from=${"2".repeat(5000)}`,
        "from=2025-12-07&to=2025-12-01",
        "timeframe=7m"
      ]
      for (const query of bad) {
        const r = yield* request(url, `/marketdata/bars/AAPL?${query}`)
        expect(r.status, query).toBe(400)
        expect(typeof r.body._tag, query).toBe("string")
        expect(typeof r.body.message, query).toBe("string")
      }
      for (const symbol of ["x".repeat(33), "A%20B", "%00"]) {
        const r = yield* request(url, `/marketdata/quote/${symbol}`)
        expect(r.status, symbol).toBe(400)
      }
      for (const path of [`/orders/${"x".repeat(101)}`, `/orders/by-client-id/${"x".repeat(101)}`]) {
        expect([400, 404], path).toContain((yield* request(url, path)).status)
      }
      const longId = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "SPY", side: "buy", qty: 1, type: "market", clientOrderId: "x".repeat(101) }
      })
      expect(longId.status).toBe(400)
      // leap day, offsets and fractions are fine
      for (const query of ["from=2024-02-29", "from=2025-12-06T10:00:00.123%2B01:00&to=2025-12-06T23:59:59Z&limit=5"]) {
        expect((yield* request(url, `/marketdata/bars/AAPL?${query}`)).status, query).toBe(200)
      }
      expect((yield* stats(url)).barsGenerated).toBeLessThanOrEqual(10_005)
    }))

  it.scopedLive("absurd or non-finite qty / limitPrice are typed 400s, and the account stays valid", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      const raw = (body: string) =>
        Effect.promise(async () => {
          const res = await fetch(url + "/orders", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body
          })
          return { status: res.status, body: await res.json() as { _tag?: string } }
        })
      const base = { symbol: "SPY", side: "sell", type: "limit", limitPrice: 1 }
      for (
        const body of [
          JSON.stringify({ ...base, qty: 1e308 }),
          JSON.stringify({ ...base, qty: 1_000_001 }),
          JSON.stringify({ ...base, qty: 1, limitPrice: 1e308 }),
          JSON.stringify({ ...base, qty: 1, limitPrice: 1_000_001 }),
          JSON.stringify({ ...base, qty: 0 }),
          JSON.stringify({ ...base, qty: -5 }),
          JSON.stringify({ ...base, qty: "1" }),
          JSON.stringify({ ...base, type: "market", limitPrice: undefined, qty: 1e308 }),
          `{"symbol":"SPY","side":"sell","type":"market","qty":1e999}`
        ]
      ) {
        const r = yield* raw(body)
        expect(r.status, body).toBe(400)
        expect(typeof r.body._tag, body).toBe("string")
      }
      // the largest accepted order is fine, and /account still matches its schema
      const max = yield* request(url, "/orders", {
        method: "POST",
        body: { symbol: "SPY", side: "sell", type: "limit", qty: 1_000_000, limitPrice: 1 }
      })
      expect(max.status).toBe(201)
      const account = yield* request(url, "/account")
      expect(account.status).toBe(200)
      expect(Number.isFinite(account.body.cash)).toBe(true)
    }))

  it.scopedLive("health path variants reach health, exempt from the rate limit, whatever the client's bucket", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ rateLimit: { tokensPerSecond: 0.01, burstSize: 1 } })
      expect((yield* request(url, "/marketdata/quote/AAPL")).status).toBe(200)
      expect((yield* request(url, "/marketdata/quote/AAPL")).status).toBe(429)
      for (const path of ["/health", "/health/", "//health", "/HEALTH"]) {
        const r = yield* request(url, path)
        expect(r.status, path).toBe(200)
        expect(r.body.status, path).toBe("ok")
        expect(r.headers.get("ratelimit"), path).toBeNull()
      }
    }))
})
