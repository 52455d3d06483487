import { AlphaVantage, Fred, MarketDataClient, Polygon, Yahoo } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Redacted } from "effect"
import { makeServer, type Recorded, type Reply } from "./support/server.js"

const policy = { requests: { retry: { maxRetries: 0 } }, rateLimit: null } as const

const withProvider = <A, E>(
  make: (url: string) => Layer.Layer<MarketDataClient.MarketDataClient, unknown, never>,
  handler: (r: Recorded) => Reply,
  f: (client: MarketDataClient.Service, requests: Array<Recorded>) => Effect.Effect<A, E>
) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* makeServer(handler)
    const client = yield* Effect.provide(MarketDataClient.MarketDataClient, make(server.url))
    return yield* f(client, server.requests)
  }))

const tagOf = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? (exit.cause as any).error?._tag : "success"

const polygon = (url: string) =>
  Polygon.layer({ apiKey: Redacted.make("pk"), baseUrl: url, plan: "advanced", policy }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )
const yahoo = (url: string) =>
  Yahoo.layer({ baseUrl: url, cookieUrl: `${url}/cookie`, policy }).pipe(Layer.provide(FetchHttpClient.layer))
// Yahoo's session requests answered, the rest by the test's handler.
const withSession = (handler: (r: Recorded) => Reply) => (r: Recorded): Reply =>
  r.path === "/cookie"
    ? { status: 404, headers: { "set-cookie": "A3=d=abc; Path=/; HttpOnly" }, text: "" }
    : r.path === "/v1/test/getcrumb"
    ? { text: "crumb-1" }
    : handler(r)
const charts = (requests: Array<Recorded>) => requests.filter((r) => r.path.startsWith("/v8/finance/chart/"))
const fred = (url: string) =>
  Fred.layer({ apiKey: Redacted.make("fk"), baseUrl: url, policy }).pipe(Layer.provide(FetchHttpClient.layer))
const alphaVantage = (url: string) =>
  AlphaVantage.layer({ apiKey: Redacted.make("ak"), baseUrl: url, plan: "premium", policy }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )

const from = new Date("2024-01-02T00:00:00Z")
const to = new Date("2024-01-03T00:00:00Z")

describe("Polygon", () => {
  it.live("bars: aggregates path, apiKey query param, decoded bars", () =>
    withProvider(polygon, () => ({
      json: {
        ticker: "AAPL",
        status: "OK",
        resultsCount: 2,
        results: [
          { t: from.getTime() + 3_600_000, o: 1, h: 2, l: 0.5, c: 1.5, v: 100, vw: 1.2, n: 3 },
          { t: from.getTime(), o: 1.5, h: 2.5, l: 1, c: 2, v: 200, vw: 1.7, n: 4 }
        ]
      }
    }), (client, requests) =>
      Effect.gen(function*() {
        const bars = yield* client.bars("AAPL", "1h", { from, to })
        expect(requests[0]!.path).toBe(`/v2/aggs/ticker/AAPL/range/1/hour/${from.getTime()}/${to.getTime()}`)
        expect(requests[0]!.query.get("apiKey")).toBe("pk")
        expect(bars.map((b) => b.close)).toEqual([2, 1.5]) // oldest first
        expect(bars[0]!.timeframe).toBe("1h")
      })))

  it.live("latest quote from /v2/last/nbbo; 404 → UnknownSymbolError; 401 → AuthenticationError; malformed → ProviderDecodeError", () =>
    withProvider(polygon, (r) => {
      if (r.path.endsWith("/AAPL")) {
        return { json: { status: "OK", results: { P: 10.2, S: 3, p: 10.1, s: 4, t: 1_700_000_000_000_000_000 } } }
      }
      if (r.path.endsWith("/NOPE")) return { status: 404, json: { status: "NOT_FOUND", message: "no quote" } }
      if (r.path.endsWith("/AUTH")) return { status: 401, json: { status: "ERROR", error: "Unknown API Key" } }
      return { json: { status: "OK", results: { P: "x" } } }
    }, (client, requests) =>
      Effect.gen(function*() {
        const quote = yield* client.latestQuote("AAPL")
        expect(requests[0]!.path).toBe("/v2/last/nbbo/AAPL")
        expect(quote).toMatchObject({ bid: 10.1, ask: 10.2, bidSize: 4, askSize: 3 })
        expect(quote.timestamp.getTime()).toBe(1_700_000_000_000)
        expect(tagOf(yield* Effect.exit(client.latestQuote("NOPE")))).toBe("UnknownSymbolError")
        expect(tagOf(yield* Effect.exit(client.latestQuote("AUTH")))).toBe("AuthenticationError")
        expect(tagOf(yield* Effect.exit(client.latestQuote("BAD")))).toBe("ProviderDecodeError")
      })))

  it("maps every timeframe", () => {
    expect(["1m", "5m", "15m", "1h", "1d"].map((t) => Polygon.timespanOf(t as any))).toEqual([
      [1, "minute"],
      [5, "minute"],
      [15, "minute"],
      [1, "hour"],
      [1, "day"]
    ])
  })
})

describe("Yahoo", () => {
  it.live("bars from the chart API; null points skipped; Not Found → UnknownSymbolError", () =>
    withProvider(
      yahoo,
      withSession((r) =>
        r.path === "/v8/finance/chart/MSFT"
          ? {
            json: {
              chart: {
                result: [{
                  meta: { symbol: "MSFT", regularMarketPrice: 410.5, regularMarketTime: 1_704_200_000 },
                  timestamp: [1_704_200_000, 1_704_203_600, 1_704_207_200],
                  indicators: {
                    quote: [{
                      open: [1, null, 3],
                      high: [2, null, 4],
                      low: [0.5, null, 2],
                      close: [1.5, null, 3.5],
                      volume: [10, null, 30]
                    }]
                  }
                }],
                error: null
              }
            }
          }
          : {
            status: 404,
            json: {
              chart: {
                result: null,
                error: { code: "Not Found", description: "No data found, symbol may be delisted" }
              }
            }
          }
      ),
      (client, requests) =>
        Effect.gen(function*() {
          const bars = yield* client.bars("MSFT", "1h")
          expect(charts(requests)[0]!.query.get("interval")).toBe("60m")
          expect(charts(requests)[0]!.query.get("range")).toBe("1mo")
          expect(charts(requests)[0]!.query.get("crumb")).toBe("crumb-1")
          expect(bars.map((b) => b.close)).toEqual([1.5, 3.5])
          const quote = yield* client.latestQuote("MSFT")
          expect(quote.price).toBe(410.5)
          expect(tagOf(yield* Effect.exit(client.bars("ZZZZ", "1d")))).toBe("UnknownSymbolError")
        })
    ))

  it.live("a malformed chart → ProviderDecodeError; an interval outside its window → UnsupportedTimeframeError", () =>
    withProvider(
      yahoo,
      withSession((r) =>
        r.path.endsWith("/BAD")
          ? { json: { chart: { result: [{ meta: {} }] } } }
          : {
            status: 422,
            json: {
              chart: {
                result: null,
                error: { code: "Unprocessable Entity", description: "1m data not available for startTime" }
              }
            }
          }
      ),
      (client) =>
        Effect.gen(function*() {
          expect(tagOf(yield* Effect.exit(client.bars("BAD", "1d")))).toBe("ProviderDecodeError")
          expect(tagOf(yield* Effect.exit(client.bars("OLD", "1m", { from: new Date(0), to: new Date(60_000) })))).toBe(
            "UnsupportedTimeframeError"
          )
        })
    ))
})

describe("FRED", () => {
  it.live("observations as bars: series_id, api_key, file_type=json; '.' skipped", () =>
    withProvider(fred, () => ({
      json: {
        observations: [
          { realtime_start: "2024-01-01", realtime_end: "2024-01-01", date: "2023-01-01", value: "26813.601" },
          { realtime_start: "2024-01-01", realtime_end: "2024-01-01", date: "2023-04-01", value: "." },
          { realtime_start: "2024-01-01", realtime_end: "2024-01-01", date: "2023-07-01", value: "27610.128" }
        ]
      }
    }), (client, requests) =>
      Effect.gen(function*() {
        const bars = yield* client.bars("GDP", "1d")
        const q = requests[0]!.query
        expect(requests[0]!.path).toBe("/fred/series/observations")
        expect([q.get("series_id"), q.get("api_key"), q.get("file_type")]).toEqual(["GDP", "fk", "json"])
        expect(bars.map((b) => [b.timestamp.toISOString().slice(0, 10), b.close, b.open, b.volume])).toEqual([
          ["2023-01-01", 26813.601, 26813.601, 0],
          ["2023-07-01", 27610.128, 27610.128, 0]
        ])
      })))

  it.live("intraday is a typed error without a request; a missing series → UnknownSymbolError; a bad key → AuthenticationError", () =>
    withProvider(fred, (r) =>
      r.query.get("series_id") === "NOPE"
        ? { status: 400, json: { error_code: 400, error_message: "Bad Request.  The series does not exist." } }
        : {
          status: 400,
          json: { error_code: 400, error_message: "Bad Request.  The value for variable api_key is not registered." }
        }, (client, requests) =>
      Effect.gen(function*() {
        expect(tagOf(yield* Effect.exit(client.bars("GDP", "1h")))).toBe("UnsupportedTimeframeError")
        expect(requests).toHaveLength(0)
        expect(tagOf(yield* Effect.exit(client.bars("NOPE", "1d")))).toBe("UnknownSymbolError")
        expect(tagOf(yield* Effect.exit(client.latestQuote("GDP")))).toBe("AuthenticationError")
      })))
})

describe("Alpha Vantage", () => {
  it.live("EURUSD at 1h: FX_INTRADAY from_symbol/to_symbol interval=60min", () =>
    withProvider(alphaVantage, () => ({
      json: {
        "Meta Data": {
          "1. Information": "FX Intraday (60min) Time Series",
          "2. From Symbol": "EUR",
          "3. To Symbol": "USD",
          "7. Time Zone": "UTC"
        },
        "Time Series FX (60min)": {
          "2024-01-02 15:00:00": { "1. open": "1.0950", "2. high": "1.0960", "3. low": "1.0940", "4. close": "1.0955" },
          "2024-01-02 14:00:00": { "1. open": "1.0940", "2. high": "1.0952", "3. low": "1.0935", "4. close": "1.0950" }
        }
      }
    }), (client, requests) =>
      Effect.gen(function*() {
        const bars = yield* client.bars("EURUSD", "1h")
        const q = requests[0]!.query
        expect([q.get("function"), q.get("from_symbol"), q.get("to_symbol"), q.get("interval"), q.get("apikey")])
          .toEqual([
            "FX_INTRADAY",
            "EUR",
            "USD",
            "60min",
            "ak"
          ])
        expect(bars.map((b) => [b.timestamp.toISOString(), b.close])).toEqual([
          ["2024-01-02T14:00:00.000Z", 1.095],
          ["2024-01-02T15:00:00.000Z", 1.0955]
        ])
      })))

  it.live("equities read in US/Eastern; GLOBAL_QUOTE; empty quote → UnknownSymbolError", () =>
    withProvider(alphaVantage, (r) => {
      if (r.query.get("function") === "TIME_SERIES_INTRADAY") {
        return {
          json: {
            "Meta Data": { "6. Time Zone": "US/Eastern" },
            "Time Series (5min)": {
              "2024-01-02 09:30:00": {
                "1. open": "1",
                "2. high": "2",
                "3. low": "0.5",
                "4. close": "1.5",
                "5. volume": "100"
              }
            }
          }
        }
      }
      return r.query.get("symbol") === "IBM"
        ? {
          json: {
            "Global Quote": { "01. symbol": "IBM", "05. price": "160.10", "07. latest trading day": "2024-01-02" }
          }
        }
        : { json: { "Global Quote": {} } }
    }, (client) =>
      Effect.gen(function*() {
        const [bar] = yield* client.bars("IBM", "5m")
        expect(bar!.timestamp.toISOString()).toBe("2024-01-02T14:30:00.000Z")
        expect(bar!.volume).toBe(100)
        expect((yield* client.latestQuote("IBM")).price).toBe(160.1)
        expect(tagOf(yield* Effect.exit(client.latestQuote("NOPE")))).toBe("UnknownSymbolError")
      })))

  it.live("throttling inside HTTP 200 ('Note' / 'Information') → ProviderRateLimitedError; 'Error Message' → UnknownSymbolError", () =>
    withProvider(alphaVantage, (r) => {
      const symbol = r.query.get("symbol") ?? r.query.get("from_currency")
      if (symbol === "NOTE") {
        return {
          json: { Note: "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute." }
        }
      }
      if (symbol === "DAY") {
        return {
          json: {
            Information: "We have detected your API key as ak and our standard API rate limit is 25 requests per day."
          }
        }
      }
      if (symbol === "BAD") return { text: "{not json" }
      return {
        json: { "Error Message": "Invalid API call. Please retry or visit the documentation for TIME_SERIES_INTRADAY." }
      }
    }, (client) =>
      Effect.gen(function*() {
        const note = yield* Effect.exit(client.latestQuote("NOTE"))
        expect(tagOf(note)).toBe("ProviderRateLimitedError")
        expect(Duration.toSeconds((note as any).cause.error.retryAfter)).toBe(60)
        const untilMidnight = (now: number) => {
          const next = new Date(now)
          next.setUTCHours(24, 0, 0, 0)
          return next.getTime() - now
        }
        const before = Date.now()
        const day = yield* Effect.exit(client.latestQuote("DAY"))
        const after = Date.now()
        expect(tagOf(day)).toBe("ProviderRateLimitedError")
        // the daily allowance resets at the next UTC midnight, read from the clock when the reply came
        const dayRetry = Duration.toMillis((day as any).cause.error.retryAfter)
        expect(dayRetry).toBeLessThanOrEqual(untilMidnight(before))
        expect(dayRetry).toBeGreaterThanOrEqual(untilMidnight(after))
        expect(tagOf(yield* Effect.exit(client.bars("WHAT", "1d")))).toBe("UnknownSymbolError")
        expect(tagOf(yield* Effect.exit(client.latestQuote("BAD")))).toBe("ProviderDecodeError")
      })))
})
