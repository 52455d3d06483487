/**
 * Yahoo Finance (the chart API) as a `MarketDataClient`.
 *
 * Bars from `GET /v8/finance/chart/{symbol}?interval=…&range=…` (or
 * `period1`/`period2` for an explicit range); the latest quote is the chart's
 * `meta.regularMarketPrice` (Yahoo's quote endpoint needs a session crumb).
 * Timeframes: `1m`/`5m`/`15m` → the same interval, `1h` → `60m`, `1d` → `1d`.
 * No key. A chart error body `{ chart: { error: { code, description } } }`
 * maps to `UnknownSymbolError` ("Not Found") or `UnsupportedTimeframeError`
 * (an interval outside its window, e.g. 1m older than 30 days).
 *
 * Policy: `market_data` retry and timeout; Yahoo documents no quota for this
 * unofficial API, so the bucket is a conservative 2,000 calls/hour (the
 * figure commonly reported for per-IP throttling), burst 10.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import {
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
  readonly policy?: ProviderPolicy.Overrides | undefined
}

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
    return chartError(body.value.chart.error.code, reason, symbol, timeframe, response.status)
  }
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
  Effect.map(HttpClient.HttpClient, (client): MarketDataApi => {
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const chart = (symbol: string, timeframe: Timeframe, params: Record<string, string>) =>
      Effect.gen(function*() {
        const response = yield* Http.send(
          client,
          provider,
          HttpClientRequest.get(`${base}/v8/finance/chart/${encodeURIComponent(symbol)}`).pipe(
            HttpClientRequest.setUrlParams(params),
            HttpClientRequest.acceptJson
          )
        )
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
