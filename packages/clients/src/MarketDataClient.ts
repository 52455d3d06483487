/**
 * The market-data service: historical bars by symbol and timeframe and the
 * latest quote, decoded into the common `Bar` / `Quote` model, with the
 * provider's retry and quota already applied.
 *
 * Reach for the `MarketDataClient` Tag in code that reads prices; provide it
 * with a provider layer (`Polygon.layer`, `Yahoo.layer`, `Fred.layer`,
 * `AlphaVantage.layer`, `Simulated.layerMarketData`) or pick one by name
 * through `MarketDataClients`.
 *
 * @since 0.1.0
 */
import type {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  TimeoutError
} from "@effect-resilience/core/ResilienceError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { ProviderError } from "./ClientError.js"
import type { Bar, BarsQuery, Quote, Timeframe } from "./Models.js"
import type { Overrides, ProviderPolicy } from "./ProviderPolicy.js"

/**
 * A data provider's raw API, without any policy. Provider modules implement
 * it; `MarketDataClient` services wrap it.
 *
 * @since 0.1.0
 * @category models
 */
export interface MarketDataApi {
  readonly provider: string
  readonly bars: (
    symbol: string,
    timeframe: Timeframe,
    query?: BarsQuery | undefined
  ) => Effect.Effect<ReadonlyArray<Bar>, ProviderError>
  readonly latestQuote: (symbol: string) => Effect.Effect<Quote, ProviderError>
}

/**
 * Everything a market-data call can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type MarketDataError = ProviderError | CircuitOpenError | BulkheadRejectedError | TimeoutError | RateLimitedError

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly provider: string
  /** The policy this client applies. */
  readonly policy: ProviderPolicy
  /** Bars, oldest first. */
  readonly bars: (
    symbol: string,
    timeframe: Timeframe,
    query?: BarsQuery | undefined
  ) => Effect.Effect<ReadonlyArray<Bar>, MarketDataError>
  readonly latestQuote: (symbol: string) => Effect.Effect<Quote, MarketDataError>
}

/**
 * The market-data client of this environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class MarketDataClient
  extends Context.Tag("@effect-resilience/clients/MarketDataClient")<MarketDataClient, Service>()
{}

/**
 * Provider names `MarketDataClients` knows.
 *
 * @since 0.1.0
 * @category models
 */
export const marketDataNames = ["polygon", "yahoo", "fred", "alpha_vantage", "simulated"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type MarketDataName = typeof marketDataNames[number]

/**
 * Options of a keyed market-data provider's layer (Polygon, FRED, Alpha
 * Vantage): the same three fields for each.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedProviderOptions {
  /** The provider's API key. */
  readonly apiKey: Redacted.Redacted<string>
  /** The provider's base URL; @default its public endpoint (`defaultBaseUrl` of its module). */
  readonly baseUrl?: string | undefined
  /** Overrides of the provider's default policy (they win over `ResilienceConfig`). */
  readonly policy?: Overrides | undefined
}

/**
 * A client that asks `fallback` when `self` fails with an error `when`
 * accepts (e.g. `AlphaVantage.needsFallback`: an entitlement refusal or the
 * daily cap), and otherwise answers as `self`. Each keeps its own policy;
 * the answer's `provider` stays `self`'s (its bars carry no provider). The
 * fallback's own error is what the caller sees when both fail.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withFallback = (
  self: Service,
  fallback: Service,
  when: (error: MarketDataError) => boolean
): Service => ({
  provider: self.provider,
  policy: self.policy,
  bars: (symbol, timeframe, query) =>
    Effect.catchIf(self.bars(symbol, timeframe, query), when, () => fallback.bars(symbol, timeframe, query)),
  latestQuote: (symbol) => Effect.catchIf(self.latestQuote(symbol), when, () => fallback.latestQuote(symbol))
})

/**
 * `withFallback` over two layers: `primary`, and `fallback` for the errors
 * `when` accepts. Configured per provider: `MarketDataClients.layerDefault`
 * serves `alpha_vantage` as Alpha Vantage with Yahoo behind it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithFallback = <E1, R1, E2, R2>(
  primary: Layer.Layer<MarketDataClient, E1, R1>,
  fallback: Layer.Layer<MarketDataClient, E2, R2>,
  when: (error: MarketDataError) => boolean
): Layer.Layer<MarketDataClient, E1 | E2, R1 | R2> =>
  Layer.scoped(
    MarketDataClient,
    Effect.gen(function*() {
      // Both live as long as this layer (their quotas and status registrations with them).
      const scope = yield* Effect.scope
      const self = yield* Layer.buildWithScope(primary, scope)
      const other = yield* Layer.buildWithScope(fallback, scope)
      return withFallback(Context.get(self, MarketDataClient), Context.get(other, MarketDataClient), when)
    })
  )
