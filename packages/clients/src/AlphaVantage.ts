/**
 * Alpha Vantage as a `MarketDataClient`, for FX and equities.
 *
 * A six-letter currency pair (`EURUSD`, or `EUR/USD`) is FX: bars from
 * `function=FX_INTRADAY&from_symbol=EUR&to_symbol=USD&interval=60min` (or
 * `FX_DAILY`), the quote from `CURRENCY_EXCHANGE_RATE`. Anything else is an
 * equity: `TIME_SERIES_INTRADAY` / `TIME_SERIES_DAILY` and `GLOBAL_QUOTE`.
 * Timeframes: `1m` → `1min`, `5m` → `5min`, `15m` → `15min`, `1h` → `60min`,
 * `1d` → the daily function. Timestamps are read in the zone the response's
 * "Meta Data" names (US/Eastern for equities, UTC for FX).
 *
 * Plans (`options.plan`, default `"free"`): `FX_INTRADAY` and
 * `outputsize=full` are premium (alphavantage.co/documentation). On the free
 * plan an intraday FX query fails with `ProviderEntitlementError` before
 * anything is sent (it would only spend one of the day's 25 requests on the
 * "premium endpoint" answer), and bars are always read `compact` (the latest
 * 100 points); on `"premium"` `full` is sent when the query reaches further
 * back. For intraday FX on a free key, put a fallback behind it:
 * `layerConfigWithFallback` (what `MarketDataClients.layerDefault` and the
 * gateway serve as `alpha_vantage`) is Alpha Vantage with Yahoo behind it for
 * entitlement refusals and the daily cap (`needsFallback`).
 *
 * Alpha Vantage answers most errors with HTTP 200: `{"Error Message": …}` →
 * `UnknownSymbolError` (or `AuthenticationError` for a missing or invalid
 * key); `{"Information": …}` / `{"Note": …}` is parsed apart: "This is a
 * premium endpoint" → `ProviderEntitlementError`; the burst message
 * ("spreading out your free API requests more sparingly (1 request per
 * second)") → `ProviderRateLimitedError` with `retryAfter` 1 s; the daily
 * message ("rate limit is 25 requests per day") → `retryAfter` until the next
 * UTC midnight (Alpha Vantage does not document the reset time; UTC midnight
 * is the assumption); an older per-minute note → 60 s.
 *
 * Policy (`policyFor`): `market_data` retry and timeout, and one wait-mode
 * quota holding the free tier's rules atomically: its burst limit, one
 * request per second (a bucket), 5 per minute and its 25 requests per day
 * (alphavantage.co/support/#api-key) as windows aligned to the minute and
 * to UTC midnight, shared by a fleet when the `RateLimiterStore` is Redis: the 26th
 * call of a UTC day fails with `ProviderRateLimitedError` (until midnight)
 * without being sent. `options.dailyLimit` changes the cap (`0` turns it
 * off; a premium plan has no daily cap). The raw API (`makeApi`) keeps its
 * own per-process count of the same cap, for use without the policy.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import {
  AuthenticationError,
  ProviderDecodeError,
  ProviderEntitlementError,
  type ProviderError,
  ProviderRateLimitedError,
  ProviderUnavailableError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import * as MarketDataClient from "./MarketDataClient.js"
import type { KeyedProviderOptions, MarketDataApi } from "./MarketDataClient.js"
import { Bar, type BarsQuery, Quote, type Timeframe } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"
import * as Yahoo from "./Yahoo.js"

const provider = "alpha_vantage"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://www.alphavantage.co"

/**
 * Alpha Vantage's plans, as far as this client cares: premium unlocks
 * `FX_INTRADAY` and `outputsize=full` and lifts the daily cap.
 *
 * @since 0.1.0
 * @category models
 */
export type Plan = "free" | "premium"

/**
 * Options of the Alpha Vantage layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyedProviderOptions {
  /** @default "free" */
  readonly plan?: Plan | undefined
  /** Requests per UTC day this client sends; 0 = no cap. @default 25 on "free", 0 on "premium" */
  readonly dailyLimit?: number | undefined
}

/**
 * Should a fallback provider answer instead? True for the refusals another
 * provider can serve: an endpoint the plan does not include
 * (`ProviderEntitlementError`) and the daily cap (a `ProviderRateLimitedError`
 * whose wait is longer than a minute).
 *
 * @since 0.1.0
 * @category predicates
 */
export const needsFallback = (error: unknown): boolean =>
  error instanceof ProviderEntitlementError ||
  (error instanceof ProviderRateLimitedError && Duration.toMillis(error.retryAfter) > 60_000)

/**
 * Alpha Vantage's policy for a plan: the free tier's burst limit, 1 request
 * per second, as a wait-mode bucket of 1, and on a capped plan its 5 per
 * minute and daily cap (`dailyLimit`, default 25 on `"free"`, none on
 * `"premium"`) as windows of the same limiter, aligned to the minute and to
 * UTC midnight: decided atomically with the bucket,
 * and fleet-wide when the environment's `RateLimiterStore` is Redis. A call
 * over the day's cap fails at once with `ProviderRateLimitedError` (its wait,
 * until midnight, is past `maxWait`), which `needsFallback` hands to the
 * fallback provider.
 *
 * @since 0.2.0
 * @category policy
 */
export const policyFor = (options: {
  readonly plan?: Plan | undefined
  readonly dailyLimit?: number | undefined
}): ProviderPolicy.ProviderPolicy => {
  const dailyLimit = Math.max(0, Math.floor(options.dailyLimit ?? ((options.plan ?? "free") === "free" ? 25 : 0)))
  return ProviderPolicy.dataProvider(
    provider,
    ProviderPolicy.quota({
      quota: 1,
      interval: Duration.seconds(1),
      burst: 1,
      maxWait: Duration.minutes(2),
      source: "Alpha Vantage free tier: 1 request per second (its burst message), 5 per minute (its older " +
        "per-minute note) and 25 per day (alphavantage.co/support/#api-key), as one bucket and two windows",
      windows: dailyLimit > 0
        ? [{ limit: 5, per: Duration.minutes(1) }, { limit: dailyLimit, per: Duration.days(1) }]
        : undefined
    })
  )
}

/**
 * Alpha Vantage's default policy: the free plan's (`policyFor({})`), 1
 * request per second, 5 per minute and 25 per UTC day.
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = policyFor({})

/**
 * A currency pair (`EURUSD`, `EUR/USD`, `EUR-USD`) split in two, or `None`
 * for an equity symbol.
 *
 * @since 0.1.0
 * @category mapping
 */
export const currencyPair = (symbol: string): Option.Option<readonly [string, string]> => {
  const match = /^([A-Za-z]{3})[/\-_]?([A-Za-z]{3})$/.exec(symbol.trim())
  return match === null ? Option.none() : Option.some([match[1]!.toUpperCase(), match[2]!.toUpperCase()] as const)
}

/**
 * Alpha Vantage's intraday `interval` for a timeframe (`undefined` for `1d`).
 *
 * @since 0.1.0
 * @category mapping
 */
export const intervalOf = (timeframe: Timeframe): string | undefined => {
  switch (timeframe) {
    case "1m":
      return "1min"
    case "5m":
      return "5min"
    case "15m":
      return "15min"
    case "1h":
      return "60min"
    case "1d":
      return undefined
  }
}

const Fields = Schema.Record({ key: Schema.String, value: Schema.String })
const Series = Schema.Record({ key: Schema.String, value: Fields })

const field = (fields: Readonly<Record<string, string>>, suffix: string): number | undefined => {
  for (const key in fields) {
    if (key.endsWith(suffix)) {
      const n = Number(fields[key])
      return Number.isFinite(n) ? n : undefined
    }
  }
  return undefined
}

/** Wall-clock time in an IANA zone → UTC millis (two passes handle DST edges). */
const zonedToUtc = (local: string, timeZone: string): number => {
  const asUtc = Date.parse(`${local.replace(" ", "T")}${local.length <= 10 ? "T00:00:00" : ""}Z`)
  if (timeZone === "UTC" || Number.isNaN(asUtc)) return asUtc
  const offsetAt = (millis: number) => {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit"
    }).formatToParts(new Date(millis))
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value)
    return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) - millis
  }
  const guess = asUtc - offsetAt(asUtc)
  return asUtc - offsetAt(guess)
}

const untilUtcMidnight = (now: number): Duration.Duration => {
  const next = new Date(now)
  next.setUTCHours(24, 0, 0, 0)
  return Duration.millis(next.getTime() - now)
}

/**
 * The throttle / error signals Alpha Vantage sends in a 200 body.
 *
 * @internal
 */
const bodyError = (body: unknown, symbol: string, plan: Plan): Effect.Effect<void, ProviderError> => {
  if (body === null || typeof body !== "object") return Effect.void
  const record = body as Record<string, unknown>
  const note = record["Information"] ?? record["Note"]
  if (typeof note === "string") {
    // The throttle messages also advertise "premium endpoints": read them first.
    const throttle = /sparingly|per second|per day|per minute|call frequency|rate limit/i.test(note)
    if (!throttle && /premium endpoint|premium function|premium feature/i.test(note)) {
      return Effect.fail(new ProviderEntitlementError({ provider, plan, requires: "a premium plan", reason: note }))
    }
    if (/apikey|api key/i.test(note) && !/rate limit|requests per|sparingly/i.test(note)) {
      return Effect.fail(new AuthenticationError({ provider, reason: note }))
    }
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.fail(
        new ProviderRateLimitedError({
          provider,
          reason: note,
          retryAfter: throttleWait(note, now)
        })
      ))
  }
  const message = record["Error Message"]
  if (typeof message === "string") {
    return /apikey|api key/i.test(message)
      ? Effect.fail(new AuthenticationError({ provider, reason: message }))
      : Effect.fail(new UnknownSymbolError({ provider, symbol }))
  }
  return Effect.void
}

/**
 * How long an Alpha Vantage throttle message says to wait: the burst message
 * ("spreading out … more sparingly (1 request per second)", which also names
 * the daily allowance) ~1 s; the daily cap ("… 25 requests per day") until
 * the next UTC midnight; the older per-minute note ("5 calls per minute and
 * 500 calls per day") 60 s.
 *
 * @since 0.1.0
 * @category mapping
 */
export const throttleWait = (message: string, now: number): Duration.Duration => {
  if (/sparingly|per second/i.test(message)) return Duration.seconds(1)
  // "5 calls per minute and 500 calls per day" is the per-minute throttle
  if (/per minute/i.test(message)) return Duration.seconds(60)
  if (/per day|daily/i.test(message)) return untilUtcMidnight(now)
  return Duration.seconds(60)
}

const decodeSeriesBody = Schema.decodeUnknownEither(Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/**
 * The raw Alpha Vantage API (no policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (options: Options): Effect.Effect<MarketDataApi, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): MarketDataApi => {
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const plan = options.plan ?? "free"
    const dailyLimit = Math.max(0, options.dailyLimit ?? (plan === "free" ? 25 : 0))
    // Requests sent this UTC day: the 26th is refused here, not spent on a throttle answer.
    let day = -1
    let sentToday = 0
    const countOne = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const today = Math.floor(now / 86_400_000)
      if (today !== day) {
        day = today
        sentToday = 0
      }
      if (dailyLimit > 0 && sentToday >= dailyLimit) {
        return Effect.fail(
          new ProviderRateLimitedError({
            provider,
            reason: `the ${dailyLimit} requests of today (UTC) are spent`,
            retryAfter: untilUtcMidnight(now)
          })
        )
      }
      sentToday++
      return Effect.void
    })
    const query = (operation: string, symbol: string, params: Record<string, string>) =>
      Effect.gen(function*() {
        yield* countOne
        const response = yield* Http.send(
          client,
          provider,
          HttpClientRequest.get(`${base}/query`).pipe(
            HttpClientRequest.setUrlParams({ ...params, apikey: Redacted.value(options.apiKey) }),
            HttpClientRequest.acceptJson
          )
        )
        if (response.status !== 200) {
          const common = Http.commonStatusError(provider, response, `HTTP ${response.status}`, Duration.seconds(60))
          return yield* common ??
            new ProviderUnavailableError({
              provider,
              reason: `HTTP ${response.status}`,
              status: response.status,
              sent: true
            })
        }
        const body = yield* Http.decodeJson(Schema.Unknown, provider, operation)(response.text)
        yield* bodyError(body, symbol, plan)
        const record = decodeSeriesBody(body)
        if (record._tag === "Left") {
          return yield* new ProviderDecodeError({ provider, operation, issue: "expected a JSON object" })
        }
        return record.right
      })

    const bars = (symbol: string, timeframe: Timeframe, q: BarsQuery = {}) =>
      Effect.gen(function*() {
        const pair = currencyPair(symbol)
        const interval = intervalOf(timeframe)
        const params: Record<string, string> = Option.match(pair, {
          onNone: () => ({
            function: interval === undefined ? "TIME_SERIES_DAILY" : "TIME_SERIES_INTRADAY",
            symbol
          }),
          onSome: ([from, to]) => ({
            function: interval === undefined ? "FX_DAILY" : "FX_INTRADAY",
            from_symbol: from,
            to_symbol: to
          })
        })
        if (interval !== undefined) params.interval = interval
        if (plan === "free" && Option.isSome(pair) && interval !== undefined) {
          return yield* new ProviderEntitlementError({
            provider,
            plan,
            requires: "a premium plan (FX_INTRADAY is a premium function)",
            reason: `intraday FX bars for ${symbol} need FX_INTRADAY`
          })
        }
        // "compact" is the latest 100 points; "full" (premium) reaches further back.
        params.outputsize = plan === "premium" && (q.from !== undefined || (q.limit ?? 100) > 100) ? "full" : "compact"
        const body = yield* query("bars", symbol, params)
        const seriesKey = Object.keys(body).find((k) => k.startsWith("Time Series"))
        if (seriesKey === undefined) {
          return yield* new ProviderDecodeError({ provider, operation: "bars", issue: "no \"Time Series\" key" })
        }
        const series = Schema.decodeUnknownEither(Series)(body[seriesKey])
        if (series._tag === "Left") {
          return yield* new ProviderDecodeError({ provider, operation: "bars", issue: `malformed "${seriesKey}"` })
        }
        const meta = body["Meta Data"] as Record<string, string> | undefined
        const zoneKey = meta === undefined ? undefined : Object.keys(meta).find((k) => k.endsWith("Time Zone"))
        const zone = zoneKey === undefined ? "UTC" : meta![zoneKey]!.trim()
        const out: Array<Bar> = []
        for (const [time, fields] of Object.entries(series.right)) {
          const open = field(fields, "open")
          const high = field(fields, "high")
          const low = field(fields, "low")
          const close = field(fields, "close")
          const timestamp = zonedToUtc(time, zone)
          if (
            open === undefined || high === undefined || low === undefined || close === undefined ||
            Number.isNaN(timestamp)
          ) {
            return yield* new ProviderDecodeError({ provider, operation: "bars", issue: `malformed point "${time}"` })
          }
          out.push(
            new Bar({
              symbol,
              timeframe,
              timestamp: new Date(timestamp),
              open,
              high,
              low,
              close,
              volume: field(fields, "volume") ?? 0
            })
          )
        }
        return Http.trimBars(out, q)
      })

    const latestQuote = (symbol: string) =>
      Effect.gen(function*() {
        const pair = currencyPair(symbol)
        if (Option.isSome(pair)) {
          const [from, to] = pair.value
          const body = yield* query("latestQuote", symbol, {
            function: "CURRENCY_EXCHANGE_RATE",
            from_currency: from,
            to_currency: to
          })
          const rate = Schema.decodeUnknownOption(Fields)(body["Realtime Currency Exchange Rate"])
          const price = Option.flatMap(rate, (r) => Option.fromNullable(field(r, "Exchange Rate")))
          if (Option.isNone(rate) || Option.isNone(price)) {
            return yield* new ProviderDecodeError({
              provider,
              operation: "latestQuote",
              issue: "missing \"Realtime Currency Exchange Rate\""
            })
          }
          const r = rate.value
          const refreshed = Object.entries(r).find(([k]) => k.endsWith("Last Refreshed"))?.[1]
          const zone = Object.entries(r).find(([k]) => k.endsWith("Time Zone"))?.[1] ?? "UTC"
          return new Quote({
            symbol,
            bid: field(r, "Bid Price") ?? price.value,
            ask: field(r, "Ask Price") ?? price.value,
            price: price.value,
            timestamp: new Date(refreshed === undefined ? 0 : zonedToUtc(refreshed, zone))
          })
        }
        const body = yield* query("latestQuote", symbol, { function: "GLOBAL_QUOTE", symbol })
        const quote = Schema.decodeUnknownOption(Fields)(body["Global Quote"])
        if (Option.isNone(quote)) {
          return yield* new ProviderDecodeError({
            provider,
            operation: "latestQuote",
            issue: "missing \"Global Quote\""
          })
        }
        // An unknown symbol gets an empty "Global Quote" object.
        if (Object.keys(quote.value).length === 0) return yield* new UnknownSymbolError({ provider, symbol })
        const price = field(quote.value, "price")
        if (price === undefined) {
          return yield* new ProviderDecodeError({ provider, operation: "latestQuote", issue: "missing \"05. price\"" })
        }
        const day = Object.entries(quote.value).find(([k]) => k.endsWith("latest trading day"))?.[1]
        return new Quote({
          symbol,
          bid: price,
          ask: price,
          price,
          timestamp: new Date(day === undefined ? 0 : Date.parse(`${day}T00:00:00Z`))
        })
      })

    return { provider, bars, latestQuote }
  })

/**
 * The Alpha Vantage `MarketDataClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<MarketDataClient.MarketDataClient, InvalidOptionsError, HttpClient.HttpClient> =>
  ProviderLayer.marketData(makeApi, policyFor(options))(options)

/**
 * `ALPHA_VANTAGE_API_KEY` (redacted), `ALPHA_VANTAGE_BASE_URL` (optional) and
 * `ALPHA_VANTAGE_PLAN` (`free` | `premium`, default `free`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("ALPHA_VANTAGE_API_KEY"),
  baseUrl: ProviderLayer.optionalString("ALPHA_VANTAGE_BASE_URL"),
  plan: Config.literal("free", "premium")("ALPHA_VANTAGE_PLAN").pipe(Config.withDefault("free" as const))
})

/**
 * The Alpha Vantage `MarketDataClient` from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)

/**
 * Alpha Vantage from configuration with Yahoo behind it for what the plan
 * refuses (`needsFallback`: intraday FX on a free key, the daily cap). What
 * `MarketDataClients.layerDefault` and the gateway serve as `alpha_vantage`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigWithFallback = (
  overrides?: ProviderPolicy.Overrides | undefined
): Layer.Layer<
  MarketDataClient.MarketDataClient,
  InvalidOptionsError | ConfigError.ConfigError,
  HttpClient.HttpClient
> => MarketDataClient.layerWithFallback(layerConfig(overrides), Yahoo.layer(), needsFallback)
