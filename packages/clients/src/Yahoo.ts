/**
 * Yahoo Finance (the chart API) as a `MarketDataClient`.
 *
 * Bars from `GET /v8/finance/chart/{symbol}?interval=…&range=…` (or
 * `period1`/`period2` for an explicit range); the latest quote is the chart's
 * `meta.regularMarketPrice`. Timeframes: `1m`/`5m`/`15m` → the same
 * interval, `1h` → `60m`, `1d` → `1d`. A currency pair (`EURUSD`, `EUR/USD`)
 * is Yahoo's FX symbol `EURUSD=X`. No key.
 *
 * Yahoo answers a client that does not look like a browser with 429 "Edge:
 * Too Many Requests", so every request carries a browser-like `User-Agent`
 * and `Accept-Language`; and it ties API calls to a session, as
 * yahoo-finance2 does: a first request to `cookieUrl` (default
 * `https://fc.yahoo.com`, which answers 404 but sets the session cookie),
 * then `GET /v1/test/getcrumb` with that cookie for the crumb; every chart
 * request then carries the cookie and `crumb=`. The session is fetched once,
 * on first use, shared by concurrent callers, and fetched again once when
 * Yahoo answers 401 ("Invalid Crumb" / "Invalid Cookie").
 *
 * A chart error body `{ chart: { error: { code, description } } }` maps to
 * `UnknownSymbolError` ("Not Found"), `UnsupportedTimeframeError` (an
 * interval outside its window, e.g. 1m older than 30 days) or
 * `ProviderBadRequestError` (another 400: "Bad Request").
 *
 * Policy: `market_data` retry and timeout; Yahoo documents no quota for this
 * unofficial API, so the bucket is a conservative 2,000 calls/hour (the
 * figure commonly reported for per-IP throttling), burst 10.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import {
  ProviderBadRequestError,
  ProviderDecodeError,
  type ProviderError,
  ProviderUnavailableError,
  UnknownSymbolError,
  UnsupportedTimeframeError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import type { MarketDataApi } from "./MarketDataClient.js"
import type { MarketDataClient } from "./MarketDataClient.js"
import { Bar, Quote, type Timeframe } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "yahoo"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://query1.finance.yahoo.com"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** @default "https://query1.finance.yahoo.com" */
  readonly baseUrl?: string | undefined
  /** Where the session cookie comes from. @default "https://fc.yahoo.com" */
  readonly cookieUrl?: string | undefined
  /** @default a current desktop Chrome's */
  readonly userAgent?: string | undefined
  readonly policy?: ProviderPolicy.Overrides | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultCookieUrl = "https://fc.yahoo.com"

/**
 * A desktop browser's `User-Agent` (Yahoo throttles Node's default at once).
 *
 * @since 0.1.0
 * @category constants
 */
export const browserUserAgent =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

/**
 * Yahoo's symbol for a currency pair (`EURUSD` → `EURUSD=X`); other symbols
 * unchanged.
 *
 * @since 0.1.0
 * @category mapping
 */
export const yahooSymbol = (symbol: string): string => {
  const trimmed = symbol.trim().toUpperCase()
  if (trimmed.endsWith("=X")) return trimmed
  const match = /^([A-Z]{3})[/\-_]?([A-Z]{3})$/.exec(trimmed)
  return match !== null && currencies.has(match[1]!) && currencies.has(match[2]!)
    ? `${match[1]}${match[2]}=X`
    : symbol
}

const currencies = new Set([
  "USD",
  "EUR",
  "GBP",
  "JPY",
  "CHF",
  "CAD",
  "AUD",
  "NZD",
  "SEK",
  "NOK",
  "DKK",
  "CNY",
  "HKD",
  "SGD",
  "MXN",
  "ZAR",
  "TRY",
  "PLN",
  "INR",
  "KRW",
  "BRL"
])

/**
 * Yahoo's default policy.
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.dataProvider(
  provider,
  ProviderPolicy.quota({
    quota: 2000,
    interval: Duration.hours(1),
    burst: 10,
    maxWait: Duration.minutes(1),
    source: "Yahoo Finance: undocumented; ~2,000 requests/hour per IP as commonly reported"
  })
)

/**
 * Yahoo's `interval` and default `range` for a timeframe.
 *
 * @since 0.1.0
 * @category mapping
 */
export const intervalOf = (timeframe: Timeframe): readonly [interval: string, range: string] => {
  switch (timeframe) {
    case "1m":
      return ["1m", "1d"]
    case "5m":
      return ["5m", "5d"]
    case "15m":
      return ["15m", "5d"]
    case "1h":
      return ["60m", "1mo"]
    case "1d":
      return ["1d", "1y"]
  }
}

const nullableNumbers = Schema.Array(Schema.NullOr(Schema.Number))

const Chart = Schema.Struct({
  chart: Schema.Struct({
    result: Schema.NullOr(Schema.Array(Schema.Struct({
      meta: Schema.Struct({
        symbol: Schema.String,
        regularMarketPrice: Schema.optional(Schema.Number),
        regularMarketTime: Schema.optional(Schema.Number)
      }),
      timestamp: Schema.optional(Schema.Array(Schema.Number)),
      indicators: Schema.Struct({
        quote: Schema.Array(Schema.Struct({
          open: Schema.optional(nullableNumbers),
          high: Schema.optional(nullableNumbers),
          low: Schema.optional(nullableNumbers),
          close: Schema.optional(nullableNumbers),
          volume: Schema.optional(nullableNumbers)
        }))
      })
    }))),
    error: Schema.NullOr(Schema.Struct({ code: Schema.String, description: Schema.String }))
  })
})
type Chart = typeof Chart.Type

const ErrorBody = Schema.Struct({
  chart: Schema.Struct({ error: Schema.Struct({ code: Schema.String, description: Schema.String }) })
})
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)
const decodeChart = Http.decodeJson(Chart, provider, "chart")

const chartError = (
  code: string,
  description: string,
  symbol: string,
  timeframe: string,
  status: number
): Effect.Effect<never, ProviderError> => {
  if (code === "Not Found" || /no data found|delisted/i.test(description)) {
    return Effect.fail(new UnknownSymbolError({ provider, symbol }))
  }
  if (code === "Unprocessable Entity" || /interval|range|data.*not available/i.test(description)) {
    return Effect.fail(new UnsupportedTimeframeError({ provider, timeframe, reason: description }))
  }
  return Effect.fail(new ProviderUnavailableError({ provider, reason: `${code}: ${description}`, status, sent: true }))
}

const errorOf = (
  response: Http.RawResponse,
  symbol: string,
  timeframe: string
): Effect.Effect<never, ProviderError> => {
  const body = decodeErrorBody(Http.parseLenient(response.text))
  const reason = Option.match(body, {
    onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
    onSome: (b) => b.chart.error.description
  })
  const common = Http.commonStatusError(provider, response, reason, Duration.seconds(60))
  if (common !== undefined) return common
  if (Option.isSome(body)) {
    if (response.status === 400 && body.value.chart.error.code === "Bad Request") {
      return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason }))
    }
    return chartError(body.value.chart.error.code, reason, symbol, timeframe, response.status)
  }
  if (response.status === 400) return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason }))
  if (response.status === 404) return Effect.fail(new UnknownSymbolError({ provider, symbol }))
  return Effect.fail(new ProviderUnavailableError({ provider, reason, status: response.status, sent: true }))
}

const firstResult = (chart: Chart, symbol: string, timeframe: string) => {
  if (chart.chart.error !== null) {
    return chartError(chart.chart.error.code, chart.chart.error.description, symbol, timeframe, 200)
  }
  const result = chart.chart.result?.[0]
  return result === undefined
    ? Effect.fail(new ProviderDecodeError({ provider, operation: "chart", issue: "chart.result is empty" }))
    : Effect.succeed(result)
}

/**
 * The raw Yahoo API (no policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (options: Options = {}): Effect.Effect<MarketDataApi, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const browser = (request: HttpClientRequest.HttpClientRequest) =>
      request.pipe(
        HttpClientRequest.setHeaders({
          "user-agent": options.userAgent ?? browserUserAgent,
          "accept-language": "en-US,en;q=0.9"
        })
      )
    // cookie + crumb, fetched once and shared; `Effect.cachedInvalidateWithTTL` keeps one in flight.
    const fetchSession = Effect.gen(function*() {
      const primed = yield* client.execute(
        browser(HttpClientRequest.get(options.cookieUrl ?? defaultCookieUrl)).pipe(
          HttpClientRequest.setHeader("accept", "text/html,application/xhtml+xml,application/xml")
        )
      ).pipe(
        Effect.scoped,
        Effect.mapError((e) => new ProviderUnavailableError({ provider, reason: e.message, sent: true }))
      )
      const cookie = Cookies.toCookieHeader(primed.cookies)
      const crumbResponse = yield* Http.send(
        client,
        provider,
        browser(HttpClientRequest.get(`${base}/v1/test/getcrumb`)).pipe(
          HttpClientRequest.setHeader("accept", "*/*"),
          cookie === "" ? (r) => r : HttpClientRequest.setHeader("cookie", cookie)
        )
      )
      if (crumbResponse.status !== 200 || crumbResponse.text.trim() === "" || crumbResponse.text.includes("<")) {
        return yield* errorOf(
          { ...crumbResponse, status: crumbResponse.status === 200 ? 502 : crumbResponse.status },
          "",
          ""
        )
      }
      return { cookie, crumb: crumbResponse.text.trim() }
    })
    const [cachedSession, invalidate] = yield* Effect.cachedInvalidateWithTTL(fetchSession, Duration.hours(12))
    // A failed session is not kept: the next call asks again.
    const session = Effect.tapError(cachedSession, () => invalidate)
    const chartOnce = (symbol: string, params: Record<string, string>) =>
      Effect.gen(function*() {
        const { cookie, crumb } = yield* session
        return yield* Http.send(
          client,
          provider,
          browser(HttpClientRequest.get(`${base}/v8/finance/chart/${encodeURIComponent(yahooSymbol(symbol))}`)).pipe(
            HttpClientRequest.setUrlParams({ ...params, crumb }),
            cookie === "" ? (r) => r : HttpClientRequest.setHeader("cookie", cookie),
            HttpClientRequest.acceptJson
          )
        )
      })
    const chart = (symbol: string, timeframe: Timeframe, params: Record<string, string>) =>
      Effect.gen(function*() {
        let response = yield* chartOnce(symbol, params)
        // An expired crumb or cookie: one new session, one more try.
        if (response.status === 401) {
          yield* invalidate
          response = yield* chartOnce(symbol, params)
        }
        if (response.status !== 200) return yield* errorOf(response, symbol, timeframe)
        return yield* Effect.flatMap(decodeChart(response.text), (c) => firstResult(c, symbol, timeframe))
      })
    return {
      provider,
      bars: (symbol, timeframe, query = {}) =>
        Effect.gen(function*() {
          const [interval, range] = intervalOf(timeframe)
          const params: Record<string, string> = { interval, includePrePost: "false" }
          if (query.from !== undefined || query.to !== undefined) {
            const { from, to } = yield* Http.windowOf(timeframe, query)
            params.period1 = String(Math.floor(from / 1000))
            params.period2 = String(Math.ceil(to / 1000))
          } else {
            params.range = range
          }
          const result = yield* chart(symbol, timeframe, params)
          const q = result.indicators.quote[0]
          const timestamps = result.timestamp ?? []
          const bars: Array<Bar> = []
          for (let i = 0; i < timestamps.length; i++) {
            const open = q?.open?.[i]
            const high = q?.high?.[i]
            const low = q?.low?.[i]
            const close = q?.close?.[i]
            // Yahoo pads halts and the current partial bar with nulls: skip them.
            if (open == null || high == null || low == null || close == null) continue
            bars.push(
              new Bar({
                symbol,
                timeframe,
                timestamp: new Date(timestamps[i]! * 1000),
                open,
                high,
                low,
                close,
                volume: q?.volume?.[i] ?? 0
              })
            )
          }
          return Http.trimBars(bars, query)
        }),
      latestQuote: (symbol) =>
        Effect.gen(function*() {
          const result = yield* chart(symbol, "1m", { interval: "1m", range: "1d" })
          const price = result.meta.regularMarketPrice
          if (price === undefined) {
            return yield* new ProviderDecodeError({
              provider,
              operation: "latestQuote",
              issue: "meta.regularMarketPrice is missing"
            })
          }
          const at = result.meta.regularMarketTime
          return new Quote({
            symbol,
            bid: price,
            ask: price,
            price,
            timestamp: at === undefined ? new Date(0) : new Date(at * 1000)
          })
        })
    }
  })

const marketDataLayer = ProviderLayer.marketData(makeApi, policy)

/**
 * The Yahoo `MarketDataClient` (no key needed).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<MarketDataClient, InvalidOptionsError, HttpClient.HttpClient> => marketDataLayer(options)
