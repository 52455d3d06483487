/**
 * FRED (Federal Reserve Economic Data) as a `MarketDataClient`: economic
 * series observations as bars.
 *
 * `GET /fred/series/observations?series_id=…&api_key=…&file_type=json`; an
 * observation `{ date, value }` becomes a bar whose open/high/low/close are
 * the value (volume 0); missing values (`"."`) are skipped. The "symbol" is
 * the series id (`GDP`, `DGS10`, `DEXUSEU`). Only `1d` is served (the
 * series' native frequency); intraday timeframes fail with
 * `UnsupportedTimeframeError`. The latest quote is the latest observation.
 * Error bodies `{ error_code, error_message }`: a series that does not exist
 * → `UnknownSymbolError`, a bad key → `AuthenticationError`, any other 400 (a
 * bad parameter) → `ProviderBadRequestError` (not retried, not an outage).
 *
 * Policy: `market_data` retry and timeout, and FRED's documented 120
 * requests per minute per key (fred.stlouisfed.org/docs/api, "rate limits";
 * 429 "Too Many Requests" beyond it) as a wait-mode bucket (burst 10).
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
  AuthenticationError,
  ProviderBadRequestError,
  type ProviderError,
  ProviderUnavailableError,
  UnknownSymbolError,
  UnsupportedTimeframeError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import type { KeyedProviderOptions, MarketDataApi } from "./MarketDataClient.js"
import { Bar, Quote, type Timeframe } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "fred"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.stlouisfed.org"

/**
 * Options of the FRED layer.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = KeyedProviderOptions

/**
 * FRED's default policy (120 requests/minute).
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.dataProvider(
  provider,
  ProviderPolicy.quota({
    quota: 120,
    interval: Duration.minutes(1),
    burst: 10,
    maxWait: Duration.minutes(1),
    source: "FRED API: 120 requests per minute per API key (fred.stlouisfed.org/docs/api/fred)"
  })
)

const Observations = Schema.Struct({
  observations: Schema.Array(Schema.Struct({ date: Schema.String, value: Schema.String }))
})
const ErrorBody = Schema.Struct({ error_code: Schema.optional(Schema.Number), error_message: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)
const decodeObservations = Http.decodeJson(Observations, provider, "observations")

const errorOf = (response: Http.RawResponse, symbol: string): Effect.Effect<never, ProviderError> => {
  const reason = Option.match(decodeErrorBody(Http.parseLenient(response.text)), {
    onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
    onSome: (b) => b.error_message
  })
  const common = Http.commonStatusError(provider, response, reason, Duration.seconds(30))
  if (common !== undefined) return common
  if (/api_key|api key/i.test(reason) || response.status === 403) {
    return Effect.fail(new AuthenticationError({ provider, reason }))
  }
  if (/does not exist|not found/i.test(reason) || response.status === 404) {
    return Effect.fail(new UnknownSymbolError({ provider, symbol }))
  }
  // Any other 400 is a bad parameter ("Bad Request.  Value of units is not one of: cap, cca, …").
  if (response.status === 400) {
    return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason }))
  }
  return Effect.fail(new ProviderUnavailableError({ provider, reason, status: response.status, sent: true }))
}

const unsupported = (timeframe: Timeframe) =>
  Effect.fail(
    new UnsupportedTimeframeError({
      provider,
      timeframe,
      reason: "FRED publishes daily and lower-frequency observations only"
    })
  )

/**
 * The raw FRED API (no policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (options: Options): Effect.Effect<MarketDataApi, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): MarketDataApi => {
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const observations = (seriesId: string, params: Record<string, string>) =>
      Effect.gen(function*() {
        const response = yield* Http.send(
          client,
          provider,
          HttpClientRequest.get(`${base}/fred/series/observations`).pipe(
            HttpClientRequest.setUrlParams({
              ...params,
              series_id: seriesId,
              api_key: Redacted.value(options.apiKey),
              file_type: "json"
            }),
            HttpClientRequest.acceptJson
          )
        )
        if (response.status !== 200) return yield* errorOf(response, seriesId)
        const body = yield* decodeObservations(response.text)
        const out: Array<{ readonly timestamp: Date; readonly value: number }> = []
        for (const o of body.observations) {
          const value = Number(o.value)
          // "." marks a missing observation
          if (o.value === "." || !Number.isFinite(value)) continue
          out.push({ timestamp: new Date(`${o.date}T00:00:00Z`), value })
        }
        return out
      })
    return {
      provider,
      bars: (symbol, timeframe, query = {}) => {
        if (timeframe !== "1d") return unsupported(timeframe)
        const params: Record<string, string> = {}
        if (query.from !== undefined) params.observation_start = Http.isoDate(query.from.getTime())
        if (query.to !== undefined) params.observation_end = Http.isoDate(query.to.getTime())
        if (query.limit !== undefined) {
          // the latest `limit`: newest first from FRED, re-sorted by trimBars
          params.sort_order = "desc"
          params.limit = String(query.limit)
        } else {
          params.sort_order = "asc"
        }
        return Effect.map(observations(symbol, params), (obs) =>
          Http.trimBars(
            obs.map(({ timestamp, value }) =>
              new Bar({ symbol, timeframe, timestamp, open: value, high: value, low: value, close: value, volume: 0 })
            ),
            query
          ))
      },
      latestQuote: (symbol) =>
        Effect.flatMap(observations(symbol, { sort_order: "desc", limit: "1" }), (obs) =>
          obs.length === 0
            ? Effect.fail(new UnknownSymbolError({ provider, symbol }))
            : Effect.succeed(
              new Quote({
                symbol,
                bid: obs[0]!.value,
                ask: obs[0]!.value,
                price: obs[0]!.value,
                timestamp: obs[0]!.timestamp
              })
            ))
    }
  })

/**
 * The FRED `MarketDataClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = ProviderLayer.marketData(makeApi, policy)

/**
 * `FRED_API_KEY` (redacted) and `FRED_BASE_URL` (optional).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("FRED_API_KEY"),
  baseUrl: ProviderLayer.optionalString("FRED_BASE_URL")
})

/**
 * The FRED `MarketDataClient` from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)
