/**
 * Polygon.io as a `MarketDataClient`.
 *
 * Bars from the aggregates endpoint
 * `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`,
 * following `next_url` (its path and cursor, always on the configured base
 * URL, so the key never leaves for another host) until the range is read,
 * `limit` bars are in hand or `maxPages` pages were read; each page after the
 * first takes its own token from the client's quota. The key travels as the
 * `apiKey` query parameter. Timeframes: `1m` → 1/minute, `5m` → 5/minute,
 * `15m` → 15/minute, `1h` → 1/hour, `1d` → 1/day.
 *
 * The latest quote depends on the plan (`options.plan`, default `"basic"`):
 * NBBO quotes (`GET /v2/last/nbbo/{ticker}`) are in the Advanced plan only,
 * so `"advanced"` reads them; the other plans read the previous day's bar
 * (`GET /v2/aggs/ticker/{ticker}/prev`, in every plan) as a quote whose bid,
 * ask and price are its close. A 403 `NOT_AUTHORIZED` ("You are not entitled
 * to this data") is a `ProviderEntitlementError` naming the plan; a 400 is a
 * `ProviderBadRequestError`.
 *
 * Policy: `market_data` retry and timeout, and the free tier's documented
 * 5 calls per minute (polygon.io/pricing, "Basic: 5 API calls / minute") as
 * a wait-mode bucket (burst 1, one call every 12 s) so that no minute ever
 * sees a sixth call. Raise it on a paid plan with a `ResilienceConfig`
 * `rateLimit` (`services.polygon.rateLimit`, or
 * `RESILIENCE_MARKET_DATA_RATE_LIMIT_*` variables) or `policy: { rateLimit: … }`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import {
  ProviderBadRequestError,
  ProviderEntitlementError,
  type ProviderError,
  ProviderUnavailableError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import type { KeyedProviderOptions, MarketDataApi } from "./MarketDataClient.js"
import { Bar, Quote, type Timeframe } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "polygon"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.polygon.io"

/**
 * Polygon's stock plans (polygon.io/pricing).
 *
 * @since 0.1.0
 * @category models
 */
export type Plan = "basic" | "starter" | "developer" | "advanced"

/**
 * Options of the Polygon layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyedProviderOptions {
  /** The account's plan: decides where `latestQuote` reads. @default "basic" */
  readonly plan?: Plan | undefined
  /** The most aggregate pages one `bars` call reads (each ≤ 50,000 bars). @default 10 */
  readonly maxPages?: number | undefined
}

/**
 * Polygon's default policy (free tier: 5 calls/minute).
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.dataProvider(
  provider,
  ProviderPolicy.quota({
    quota: 5,
    interval: Duration.minutes(1),
    burst: 1,
    maxWait: Duration.minutes(5),
    source: "Polygon.io Basic (free) plan: 5 API calls per minute (polygon.io/pricing)"
  })
)

/**
 * Polygon's `(multiplier, timespan)` for a timeframe.
 *
 * @since 0.1.0
 * @category mapping
 */
export const timespanOf = (timeframe: Timeframe): readonly [number, "minute" | "hour" | "day"] => {
  switch (timeframe) {
    case "1m":
      return [1, "minute"]
    case "5m":
      return [5, "minute"]
    case "15m":
      return [15, "minute"]
    case "1h":
      return [1, "hour"]
    case "1d":
      return [1, "day"]
  }
}

const Aggregates = Schema.Struct({
  status: Schema.String,
  next_url: Schema.optional(Schema.String),
  results: Schema.optional(
    Schema.Array(Schema.Struct({
      t: Schema.Number,
      o: Schema.Number,
      h: Schema.Number,
      l: Schema.Number,
      c: Schema.Number,
      v: Schema.Number
    }))
  )
})

const Nbbo = Schema.Struct({
  status: Schema.String,
  results: Schema.Struct({
    P: Schema.Number,
    S: Schema.optional(Schema.Number),
    p: Schema.Number,
    s: Schema.optional(Schema.Number),
    // SIP timestamp, nanoseconds since the epoch
    t: Schema.Number
  })
})

const PrevClose = Schema.Struct({
  status: Schema.String,
  results: Schema.optional(Schema.Array(Schema.Struct({ c: Schema.Number, t: Schema.Number })))
})

const ErrorBody = Schema.Struct({
  status: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String)
})
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

const decodeAggregates = Http.decodeJson(Aggregates, provider, "bars")
const decodeNbbo = Http.decodeJson(Nbbo, provider, "latestQuote")
const decodePrev = Http.decodeJson(PrevClose, provider, "latestQuote")

const requirement = (status: string | undefined, path: string): string =>
  path.startsWith("/v2/last/nbbo") || path.startsWith("/v3/quotes")
    ? "the Advanced plan (quotes)"
    : status === "NOT_AUTHORIZED"
    ? "a higher plan (polygon.io/pricing)"
    : "a higher plan"

const errorOf = (
  response: Http.RawResponse,
  symbol: string,
  plan: Plan = "basic",
  path = ""
): Effect.Effect<never, ProviderError> => {
  const body = decodeErrorBody(Http.parseLenient(response.text))
  const reason = Option.match(body, {
    onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
    onSome: (b) => b.error ?? b.message ?? b.status ?? `HTTP ${response.status}`
  })
  const common = Http.commonStatusError(provider, response, reason, Duration.seconds(12))
  if (common !== undefined) return common
  if (response.status === 403) {
    // NOT_AUTHORIZED: a valid key whose plan lacks this data. A bad key is a 401.
    return Effect.fail(
      new ProviderEntitlementError({
        provider,
        plan,
        requires: requirement(Option.getOrUndefined(body)?.status, path),
        reason
      })
    )
  }
  if (response.status === 400) return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason }))
  if (response.status === 404) return Effect.fail(new UnknownSymbolError({ provider, symbol }))
  return Effect.fail(new ProviderUnavailableError({ provider, reason, status: response.status, sent: true }))
}

/**
 * The raw Polygon API (no policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (
  options: Options,
  pace: ProviderLayer.Pace = ProviderLayer.unpaced
): Effect.Effect<MarketDataApi, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): MarketDataApi => {
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const plan = options.plan ?? "basic"
    const maxPages = Math.max(1, options.maxPages ?? 10)
    const get = (pathAndQuery: string, params: Record<string, string>) =>
      Http.send(
        client,
        provider,
        HttpClientRequest.get(base + pathAndQuery).pipe(
          HttpClientRequest.setUrlParams({ ...params, apiKey: Redacted.value(options.apiKey) }),
          HttpClientRequest.acceptJson
        )
      )
    // next_url's path and cursor, on our own base URL (the key goes nowhere else).
    const pathOf = (nextUrl: string): string | undefined => {
      try {
        const url = new URL(nextUrl)
        url.searchParams.delete("apiKey")
        return url.pathname + url.search
      } catch {
        return undefined
      }
    }
    return {
      provider,
      bars: (symbol, timeframe, query = {}) =>
        Effect.gen(function*() {
          const [multiplier, timespan] = timespanOf(timeframe)
          const { from, to } = yield* Http.windowOf(timeframe, query)
          const ticker = encodeURIComponent(symbol.toUpperCase())
          const first = `/v2/aggs/ticker/${ticker}/range/${multiplier}/${timespan}/${from}/${to}`
          const bars: Array<Bar> = []
          let next: string | undefined = first
          for (let page = 0; next !== undefined && page < maxPages; page++) {
            const path: string = next
            const request = page === 0
              ? get(path, { adjusted: "true", sort: "asc", limit: "50000" })
              : pace(get(path, {}))
            const response = yield* request
            if (response.status !== 200) return yield* errorOf(response, symbol, plan, first)
            const body = yield* decodeAggregates(response.text)
            for (const r of body.results ?? []) {
              bars.push(
                new Bar({
                  symbol,
                  timeframe,
                  timestamp: new Date(r.t),
                  open: r.o,
                  high: r.h,
                  low: r.l,
                  close: r.c,
                  volume: r.v
                })
              )
            }
            // Ascending pages: once the range is covered or the limit is in hand, stop.
            next = body.next_url === undefined ? undefined : pathOf(body.next_url)
          }
          return Http.trimBars(bars, query)
        }),
      latestQuote: (symbol) =>
        Effect.gen(function*() {
          const ticker = encodeURIComponent(symbol.toUpperCase())
          if (plan !== "advanced") {
            const path = `/v2/aggs/ticker/${ticker}/prev`
            const response = yield* get(path, { adjusted: "true" })
            if (response.status !== 200) return yield* errorOf(response, symbol, plan, path)
            const bar = (yield* decodePrev(response.text)).results?.[0]
            if (bar === undefined) return yield* new UnknownSymbolError({ provider, symbol })
            return new Quote({ symbol, bid: bar.c, ask: bar.c, price: bar.c, timestamp: new Date(bar.t) })
          }
          const path = `/v2/last/nbbo/${ticker}`
          const response = yield* get(path, {})
          if (response.status !== 200) return yield* errorOf(response, symbol, plan, path)
          const { results: r } = yield* decodeNbbo(response.text)
          return new Quote({
            symbol,
            bid: r.p,
            ask: r.P,
            price: (r.p + r.P) / 2,
            ...(r.s !== undefined ? { bidSize: r.s } : {}),
            ...(r.S !== undefined ? { askSize: r.S } : {}),
            timestamp: new Date(Math.floor(r.t / 1e6))
          })
        })
    }
  })

/**
 * The Polygon `MarketDataClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = ProviderLayer.marketData(makeApi, policy)

/**
 * `POLYGON_API_KEY` (redacted), `POLYGON_BASE_URL` (optional) and
 * `POLYGON_PLAN` (`basic` | `starter` | `developer` | `advanced`, default `basic`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("POLYGON_API_KEY"),
  baseUrl: ProviderLayer.optionalString("POLYGON_BASE_URL"),
  plan: Config.literal("basic", "starter", "developer", "advanced")("POLYGON_PLAN").pipe(
    Config.withDefault("basic" as const)
  )
})

/**
 * The Polygon `MarketDataClient` from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)
