// Market-data providers against fakes that answer with the fixtures' bodies (test/fixtures/*.json) and enforce
// the providers' documented rules. Loopback servers for the decoding; an in-process client on the TestClock for
// pacing, so the windows are the real ones and cost no real seconds.
import { AlphaVantage, Fred, MarketDataClient, MarketDataClients, Polygon, Yahoo } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { makeAlphaVantageFake, makeYahooFake } from "./support/fakes.js"
import { drive, inProcess, load, reply } from "./support/fixtures.js"
import { makeServer, type Recorded, type Reply } from "./support/server.js"

const errorOf = (exit: Exit.Exit<unknown, unknown>): any => Exit.isFailure(exit) ? (exit.cause as any).error : undefined
const noRetry = { requests: { retry: { maxRetries: 0 } }, rateLimit: null } as const

const build = (layer: Layer.Layer<MarketDataClient.MarketDataClient, unknown, never>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, MarketDataClient.MarketDataClient))

const maxInWindow = (times: ReadonlyArray<number>, window: number) => {
  let max = 0
  for (let i = 0; i < times.length; i++) {
    let n = 0
    for (let j = i; j < times.length && times[j]! < times[i]! + window; j++) n++
    max = Math.max(max, n)
  }
  return max
}

describe("fixture files", () => {
  it("every fixture of every provider names the page it comes from", () => {
    for (const provider of ["alpha_vantage", "polygon", "yahoo", "fred"]) {
      for (const [name, f] of Object.entries(load(provider).fixtures)) {
        expect(f.source, `${provider}/${name}`).toMatch(/^https:\/\//)
      }
    }
  })
})

describe("Alpha Vantage contract", () => {
  const serve = (plan: AlphaVantage.Plan, handler: (r: Recorded) => Reply) =>
    Effect.gen(function*() {
      const server = yield* makeServer(handler)
      const client = yield* build(
        AlphaVantage.layer({ apiKey: Redacted.make("ak"), baseUrl: server.url, plan, policy: noRetry }).pipe(
          Layer.provide(FetchHttpClient.layer)
        )
      )
      return { client, requests: server.requests }
    })

  it.scoped("each body decodes to its value or typed error; burst and daily messages are told apart", () => {
    let current = ""
    return Effect.gen(function*() {
      const { client } = yield* serve("premium", () => reply("alpha_vantage", current))
      const as = (name: string) => {
        current = name
        return Effect.exit(client.latestQuote("IBM"))
      }
      current = "fx_intraday.EURUSD.60min"
      const bars = yield* client.bars("EURUSD", "1h")
      expect(bars.map((b) => [b.timestamp.toISOString(), b.close])).toEqual([
        ["2024-01-02T14:00:00.000Z", 1.095],
        ["2024-01-02T15:00:00.000Z", 1.0955]
      ])
      current = "global_quote.IBM"
      expect((yield* client.latestQuote("IBM")).price).toBe(160.1)
      current = "currency_exchange_rate.USDJPY"
      expect(yield* client.latestQuote("USDJPY")).toMatchObject({ bid: 151.245, ask: 151.255, price: 151.25 })
      expect(errorOf(yield* as("global_quote.unknown"))._tag).toBe("UnknownSymbolError")
      for (const name of ["information.premium_endpoint", "information.premium_endpoint.avc"]) {
        const premium = errorOf(yield* as(name))
        expect(premium, name).toMatchObject({
          _tag: "ProviderEntitlementError",
          provider: "alpha_vantage",
          plan: "premium"
        })
      }
      for (const burst of ["information.burst", "information.burst.unparenthesised"]) {
        const e = errorOf(yield* as(burst))
        expect(e._tag).toBe("ProviderRateLimitedError")
        expect(Duration.toMillis(e.retryAfter)).toBe(1000)
      }
      const daily = errorOf(yield* as("information.daily"))
      expect(daily._tag).toBe("ProviderRateLimitedError")
      expect(Duration.toMillis(daily.retryAfter)).toBeGreaterThan(1000) // until the next UTC midnight
      expect(Duration.toMillis(daily.retryAfter)).toBeLessThanOrEqual(86_400_000)
      expect(Duration.toSeconds(errorOf(yield* as("note.per_minute")).retryAfter)).toBe(60)
      expect(errorOf(yield* as("error.invalid_key"))._tag).toBe("AuthenticationError")
      expect(errorOf(yield* as("error.invalid_call"))._tag).toBe("UnknownSymbolError")
      // bodies recorded from Alpha Vantage (the alpha_vantage library's test data)
      current = "time_series_intraday.MSFT.1min.recorded"
      const recorded = yield* client.bars("MSFT", "1m")
      expect(recorded.map((b) => [b.timestamp.toISOString(), b.open, b.close, b.volume])).toEqual([
        ["2017-12-18T19:55:00.000Z", 86.49, 86.5, 12682], // US/Eastern 14:55 (EST)
        ["2017-12-18T19:56:00.000Z", 86.49, 86.5, 10494]
      ])
      current = "global_quote.MSFT.recorded"
      expect((yield* client.latestQuote("MSFT")).price).toBe(112.13)
      current = "currency_exchange_rate.BTCCNY.recorded" // no bid or ask in this recording: both are the rate
      expect(yield* client.latestQuote("BTCCNY")).toMatchObject({
        bid: 109631.430607,
        ask: 109631.430607,
        price: 109631.430607
      })
    })
  })

  it.scoped("free plan: intraday FX is an entitlement error before anything is sent; compact is sent, never full", () =>
    Effect.gen(function*() {
      const fake = makeAlphaVantageFake()
      const { client, requests } = yield* serve("free", (r) => fake.handle(r, Date.now()))
      const e = errorOf(yield* Effect.exit(client.bars("EURUSD", "1h")))
      expect(e).toMatchObject({ _tag: "ProviderEntitlementError", plan: "free" })
      expect(e.requires).toContain("premium")
      expect(requests).toHaveLength(0)
      const daily = yield* client.bars("EURUSD", "1d", { limit: 500 })
      expect(daily.map((b) => b.close)).toEqual([1.1038, 1.0941, 1.0919])
      expect(requests[0]!.query.get("outputsize")).toBe("compact")
      expect(fake.throttled).toEqual([])
    }))

  // live clock: Alpha Vantage's 1 request/s bucket makes the second call wait about a second
  it.live("the seeds' call: get_market_data_client('alpha_vantage') EURUSD 1h on a free key returns bars (Yahoo behind it)", () =>
    Effect.gen(function*() {
      const av = makeAlphaVantageFake()
      const yahoo = makeYahooFake()
      const avServer = yield* makeServer((r) => av.handle(r, Date.now()))
      const yahooServer = yield* makeServer((r) => yahoo.handle(r, Date.now()))
      const registry = yield* Effect.provide(
        MarketDataClients.MarketDataClients,
        MarketDataClients.layer({
          alpha_vantage: MarketDataClient.layerWithFallback(
            AlphaVantage.layer({ apiKey: Redacted.make("free-key"), baseUrl: avServer.url }),
            Yahoo.layer({ baseUrl: yahooServer.url, cookieUrl: `${yahooServer.url}/cookie` }),
            AlphaVantage.needsFallback
          ).pipe(Layer.provide(FetchHttpClient.layer))
        })
      )
      const client = yield* registry.get("alpha_vantage")
      const bars = yield* client.bars("EURUSD", "1h")
      expect(bars.map((b) => [b.symbol, b.timeframe, b.timestamp.toISOString(), b.close])).toEqual([
        ["EURUSD", "1h", "2024-01-02T13:00:00.000Z", 1.095],
        ["EURUSD", "1h", "2024-01-02T15:00:00.000Z", 1.0955]
      ])
      expect(av.requests).toHaveLength(0) // no daily request spent on a premium refusal
      expect(yahoo.requests.some((r) => r.path === "/v8/finance/chart/EURUSD=X")).toBe(true)
      // what Alpha Vantage serves on a free key still comes from Alpha Vantage
      expect((yield* client.bars("EURUSD", "1d")).length).toBe(3)
      expect(av.requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.scoped("100 concurrent callers on a free key: 1 request per second, 25 a day, no throttle message ever served", () =>
    Effect.gen(function*() {
      const fake = makeAlphaVantageFake()
      const client = yield* build(
        AlphaVantage.layer({
          apiKey: Redacted.make("ak"),
          baseUrl: "http://av.test",
          policy: { requests: { retry: { maxRetries: 0 }, timeout: null }, rateLimit: { maxWait: Duration.minutes(5) } }
        }).pipe(Layer.provide(inProcess(fake.handle)))
      )
      const exits = yield* drive(
        Effect.forEach(Array.from({ length: 100 }), () => Effect.exit(client.latestQuote("IBM")), {
          concurrency: "unbounded"
        })
      )
      expect(exits.filter(Exit.isSuccess)).toHaveLength(25)
      const refused = exits.filter(Exit.isFailure).map(errorOf)
      expect(refused).toHaveLength(75)
      for (const e of refused) {
        expect(e._tag).toBe("ProviderRateLimitedError")
        expect(Duration.toMillis(e.retryAfter)).toBeGreaterThan(60_000) // the daily cap: wait for the reset
      }
      expect(fake.throttled).toEqual([])
      expect(fake.requests).toHaveLength(25)
      expect(maxInWindow(fake.requests.map((r) => r.at), 1000)).toBe(1)
    }))
})

describe("Polygon contract", () => {
  const polygon = (url: string, plan: Polygon.Plan = "basic", maxPages?: number) =>
    build(
      Polygon.layer({
        apiKey: Redacted.make("pk"),
        baseUrl: url,
        plan,
        ...(maxPages !== undefined ? { maxPages } : {}),
        policy: noRetry
      }).pipe(Layer.provide(FetchHttpClient.layer))
    )
  const from = new Date(1577941200000)
  const to = new Date(1578632400000)

  it.scoped("follows next_url (on its own base URL, with the key) until the range is read", () =>
    Effect.gen(function*() {
      const server = yield* makeServer((r) =>
        r.query.get("cursor") === "bGltaXQ9MiZzb3J0PWFzYw"
          ? reply("polygon", "aggs.page2")
          : reply("polygon", "aggs.page1")
      )
      const client = yield* polygon(server.url)
      const bars = yield* client.bars("AAPL", "1d", { from, to })
      expect(bars.map((b) => b.close)).toEqual([75.0875, 74.3575, 74.95])
      expect(server.requests).toHaveLength(2)
      expect(server.requests[1]!.path).toBe("/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10")
      expect(server.requests[1]!.query.get("apiKey")).toBe("pk")
      const capped = yield* polygon(server.url, "basic", 1)
      expect((yield* capped.bars("AAPL", "1d", { from, to })).length).toBe(2)
    }))

  it.scoped("latestQuote reads what the plan allows; 403 NOT_AUTHORIZED is an entitlement error naming the plan; 400 a bad request", () => {
    let entitled = true
    return Effect.gen(function*() {
      const server = yield* makeServer((r) => {
        if (r.path === "/v2/aggs/ticker/AAPL/prev") return reply("polygon", "prev.AAPL")
        if (r.path === "/v2/last/nbbo/AAPL") {
          return entitled ? reply("polygon", "last_nbbo.AAPL") : reply("polygon", "403.not_authorized")
        }
        if (r.path === "/v2/aggs/ticker/NOPE/prev") return reply("polygon", "404.unknown_ticker")
        if (r.path === "/v2/aggs/ticker/KEY/prev") return reply("polygon", "401.unknown_key")
        if (r.path === "/v2/aggs/ticker/FAST/prev") return reply("polygon", "429.per_minute")
        if (r.path.startsWith("/v2/aggs/ticker/OLD/range")) return reply("polygon", "403.not_authorized.timeframe")
        return reply("polygon", "400.bad_parameter")
      })
      const basic = yield* polygon(server.url)
      expect(yield* basic.latestQuote("AAPL")).toMatchObject({ price: 156.8, bid: 156.8, ask: 156.8 })
      expect(server.requests.map((r) => r.path)).toEqual(["/v2/aggs/ticker/AAPL/prev"])
      const advanced = yield* polygon(server.url, "advanced")
      // recorded NBBO: p/s the bid, P/S the ask
      expect(yield* advanced.latestQuote("AAPL")).toMatchObject({ bid: 155.65, ask: 155.66, bidSize: 1, askSize: 14 })
      entitled = false
      const refused = errorOf(yield* Effect.exit(advanced.latestQuote("AAPL")))
      expect(refused).toMatchObject({ _tag: "ProviderEntitlementError", provider: "polygon", plan: "advanced" })
      expect(refused.requires).toContain("Advanced")
      expect(refused.reason).toContain("not entitled")
      // the real refusal of a range older than the plan reaches: an entitlement error, not a bad key
      const old = errorOf(yield* Effect.exit(basic.bars("OLD", "1d", { from, to })))
      expect(old).toMatchObject({ _tag: "ProviderEntitlementError", provider: "polygon", plan: "basic" })
      expect(old.reason).toContain("timeframe")
      expect(errorOf(yield* Effect.exit(basic.latestQuote("NOPE")))._tag).toBe("UnknownSymbolError")
      expect(errorOf(yield* Effect.exit(basic.latestQuote("KEY")))._tag).toBe("AuthenticationError")
      expect(errorOf(yield* Effect.exit(basic.latestQuote("FAST")))._tag).toBe("ProviderRateLimitedError")
      expect(errorOf(yield* Effect.exit(basic.bars("AAPL", "1d", { from, to })))).toMatchObject({
        _tag: "ProviderBadRequestError",
        status: 400
      })
    })
  })

  it.scoped("pages take their own tokens: 10 callers × 2 pages stay within 5 calls a minute", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const client = yield* build(
        Polygon.layer({
          apiKey: Redacted.make("pk"),
          baseUrl: "http://polygon.test",
          policy: {
            requests: { retry: { maxRetries: 0 }, timeout: null },
            rateLimit: { maxWait: Duration.minutes(30) }
          }
        }).pipe(Layer.provide(inProcess((r, now) => {
          times.push(now)
          if (maxInWindow(times, 60_000) > 5) return reply("polygon", "429.per_minute")
          return r.query.get("cursor") !== null ? reply("polygon", "aggs.page2") : reply("polygon", "aggs.page1")
        })))
      )
      const results = yield* drive(
        Effect.forEach(Array.from({ length: 10 }), () => client.bars("AAPL", "1d", { from, to }), {
          concurrency: "unbounded"
        })
      )
      expect(results.every((bars) => bars.length === 3)).toBe(true)
      expect(times).toHaveLength(20)
      expect(maxInWindow(times, 60_000)).toBeLessThanOrEqual(5)
    }))
})

describe("Yahoo contract", () => {
  const yahoo = (url: string, userAgent?: string) =>
    build(
      Yahoo.layer({
        baseUrl: url,
        cookieUrl: `${url}/cookie`,
        ...(userAgent !== undefined ? { userAgent } : {}),
        policy: noRetry
      }).pipe(Layer.provide(FetchHttpClient.layer))
    )

  it.scoped("browser headers, cookie then crumb; FX symbols as EURUSD=X; a new crumb after 401; errors typed", () =>
    Effect.gen(function*() {
      const fake = makeYahooFake()
      const server = yield* makeServer((r) => fake.handle(r, Date.now()))
      const client = yield* yahoo(server.url)
      const bars = yield* client.bars("EURUSD", "1h")
      expect(bars.map((b) => b.close)).toEqual([1.095, 1.0955])
      expect(fake.requests.map((r) => r.path)).toEqual(["/cookie", "/v1/test/getcrumb", "/v8/finance/chart/EURUSD=X"])
      expect((yield* client.latestQuote("EURUSD")).price).toBe(1.0955)
      fake.rotateCrumb()
      expect((yield* client.bars("EURUSD", "1h")).length).toBe(2)
      expect(fake.requests.filter((r) => r.path === "/v1/test/getcrumb")).toHaveLength(2)
      expect(errorOf(yield* Effect.exit(client.bars("ZZZZ", "1d")))._tag).toBe("UnknownSymbolError")
      expect(errorOf(yield* Effect.exit(client.bars("OLD", "1m")))._tag).toBe("UnsupportedTimeframeError")
      const node = yield* yahoo(server.url, "node")
      expect(errorOf(yield* Effect.exit(node.bars("EURUSD", "1h")))._tag).toBe("ProviderRateLimitedError")
      // a failed session is not cached: the next call fetches one again
      const cookies = fake.requests.filter((r) => r.path === "/cookie").length
      expect(errorOf(yield* Effect.exit(node.bars("EURUSD", "1h")))._tag).toBe("ProviderRateLimitedError")
      expect(fake.requests.filter((r) => r.path === "/cookie").length).toBe(cookies + 1)
    }))

  it.scoped("recorded answers: a daily EURUSD=X chart decodes; a throttled crumb request is never used as a crumb", () =>
    Effect.gen(function*() {
      const fake = makeYahooFake()
      let crumbThrottled = false
      const server = yield* makeServer((r) => {
        if (r.path === "/v1/test/getcrumb" && crumbThrottled) return reply("yahoo", "getcrumb.edge_too_many_requests")
        if (r.path === "/v8/finance/chart/EURUSD=X" && r.query.get("interval") === "1d") {
          fake.requests.push(r)
          return reply("yahoo", "chart.EURUSD=X.1d.recorded")
        }
        return fake.handle(r, Date.now())
      })
      const client = yield* yahoo(server.url)
      const bars = yield* client.bars("EURUSD", "1d", {
        from: new Date(1577836800_000),
        to: new Date(1578009600_000)
      })
      expect(bars.map((b) => [b.timestamp.toISOString(), b.open, b.close])).toEqual([
        ["2020-01-01T00:00:00.000Z", 1.1220825910568237, 1.1220825910568237],
        ["2020-01-02T00:00:00.000Z", 1.1218937635421753, 1.1220825910568237],
        ["2020-01-03T00:00:00.000Z", 1.1170812845230103, 1.1171437501907349]
      ])
      // the crumb is the recorded getcrumb body
      expect(fake.requests.at(-1)!.query.get("crumb")).toBe("haT3oykhHqZ")
      crumbThrottled = true
      const fresh = yield* yahoo(server.url)
      const charts = server.requests.filter((r) => r.path.startsWith("/v8/finance/chart/")).length
      expect(errorOf(yield* Effect.exit(fresh.bars("EURUSD", "1h")))._tag).toBe("ProviderRateLimitedError")
      expect(server.requests.filter((r) => r.path.startsWith("/v8/finance/chart/")).length).toBe(charts)
    }))

  it.scoped("100 concurrent callers share one session: one cookie, one crumb, no 429", () =>
    Effect.gen(function*() {
      const fake = makeYahooFake()
      const client = yield* build(
        Yahoo.layer({ baseUrl: "http://yahoo.test", cookieUrl: "http://yahoo.test/cookie", policy: noRetry }).pipe(
          Layer.provide(inProcess(fake.handle))
        )
      )
      const results = yield* drive(
        Effect.forEach(Array.from({ length: 100 }), () => client.bars("EURUSD", "1h"), { concurrency: "unbounded" })
      )
      expect(results.every((b) => b.length === 2)).toBe(true)
      expect(fake.requests.filter((r) => r.path === "/cookie")).toHaveLength(1)
      expect(fake.requests.filter((r) => r.path === "/v1/test/getcrumb")).toHaveLength(1)
    }))
})

describe("FRED contract", () => {
  it.scoped("a 400 for a bad parameter is a ProviderBadRequestError: not retried, not counted by the breaker", () => {
    let current = "400.bad_parameter"
    return Effect.gen(function*() {
      const server = yield* makeServer(() => reply("fred", current))
      const client = yield* build(
        Fred.layer({
          apiKey: Redacted.make("fk"),
          baseUrl: server.url,
          policy: {
            requests: { retry: { maxRetries: 3, baseDelay: Duration.millis(1) }, breaker: { failureThreshold: 2 } },
            rateLimit: null
          }
        }).pipe(Layer.provide(FetchHttpClient.layer))
      )
      for (let i = 0; i < 5; i++) {
        expect(errorOf(yield* Effect.exit(client.bars("GDP", "1d")))).toMatchObject({
          _tag: "ProviderBadRequestError",
          status: 400
        })
      }
      expect(server.requests).toHaveLength(5) // one request per call: no retries
      current = "observations.GDP"
      const bars = yield* client.bars("GDP", "1d") // the breaker is still closed
      expect(bars.map((b) => b.close)).toEqual([1065.9, 975.5, 912.1])
      current = "observations.missing_value" // "." is a missing value: no bar
      expect((yield* client.bars("GDP", "1d")).map((b) => b.close)).toEqual([1065.9, 912.1])
      for (const missing of ["400.series_missing", "404.series_missing"]) {
        current = missing
        expect(errorOf(yield* Effect.exit(client.bars("NOPE", "1d")))._tag, missing).toBe("UnknownSymbolError")
      }
      current = "400.api_key"
      expect(errorOf(yield* Effect.exit(client.bars("GDP", "1d")))._tag).toBe("AuthenticationError")
    })
  })
})
