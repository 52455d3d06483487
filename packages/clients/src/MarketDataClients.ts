/**
 * Market-data clients by provider name: `"polygon"`, `"yahoo"`, `"fred"`,
 * `"alpha_vantage"`, `"simulated"` (the seed's
 * `get_market_data_client(provider=…)`).
 *
 * Reach for it when the provider is chosen at run time (a request parameter,
 * a config value). Each provider's layer is built on first use and kept for
 * the registry's lifetime; a name this package does not know fails with
 * `UnknownProviderError`, a known provider without a layer or whose layer
 * cannot be built (missing keys) with `ProviderNotConfiguredError`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AlphaVantage from "./AlphaVantage.js"
import type { ProviderNotConfiguredError, UnknownProviderError } from "./ClientError.js"
import * as Fred from "./Fred.js"
import { makeRegistry } from "./internal/registry.js"
import * as MarketDataClient from "./MarketDataClient.js"
import * as Polygon from "./Polygon.js"
import * as Simulated from "./Simulated.js"
import * as Yahoo from "./Yahoo.js"

/**
 * The registry: what the `MarketDataClients` Tag provides (named `Registry` until
 * 0.2.0).
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Every name this registry can be asked for. */
  readonly known: ReadonlyArray<string>
  /** The names that have a layer (it may still fail to build). */
  readonly configured: ReadonlyArray<string>
  readonly get: (
    name: string
  ) => Effect.Effect<MarketDataClient.Service, UnknownProviderError | ProviderNotConfiguredError>
}

/**
 * The market-data registry of this environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class MarketDataClients
  extends Context.Tag("@effect-resilience/clients/MarketDataClients")<MarketDataClients, Service>()
{}

/**
 * The former name of `Service`.
 *
 * @since 0.1.0
 * @category models
 * @deprecated use `MarketDataClients.Service`
 */
export type Registry = Service

/**
 * A layer per provider name; leave a name out to leave it unconfigured.
 *
 * @since 0.1.0
 * @category models
 */
export type Providers<R> = { readonly [name: string]: Layer.Layer<MarketDataClient.MarketDataClient, unknown, R> }

/**
 * A registry over the given provider layers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(providers: Providers<R>): Layer.Layer<MarketDataClients, never, R> =>
  Layer.scoped(
    MarketDataClients,
    makeRegistry(MarketDataClient.MarketDataClient, MarketDataClient.marketDataNames, providers)
  )

/**
 * The default registry: Polygon, FRED and Alpha Vantage from configuration
 * (unconfigured when their keys are missing), Yahoo (no key) and the
 * simulated provider (with its own fault injector, without faults).
 *
 * `alpha_vantage` is Alpha Vantage with Yahoo behind it for what a free key
 * cannot get (`AlphaVantage.needsFallback`: intraday FX, the daily cap), so
 * the seeds' `get_market_data_client("alpha_vantage")` EURUSD 1h works on a
 * free key.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<MarketDataClients, never, HttpClient.HttpClient> = layer({
  polygon: Polygon.layerConfig(),
  yahoo: Yahoo.layer(),
  fred: Fred.layerConfig(),
  alpha_vantage: MarketDataClient.layerWithFallback(
    AlphaVantage.layerConfig(),
    Yahoo.layer(),
    AlphaVantage.needsFallback
  ),
  simulated: Simulated.layerMarketData().pipe(Layer.provide(Simulated.layerFaults()))
})

/**
 * The `MarketDataClient` of one provider, taken from the registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const client = (
  name: string
): Layer.Layer<
  MarketDataClient.MarketDataClient,
  UnknownProviderError | ProviderNotConfiguredError,
  MarketDataClients
> =>
  Layer.effect(MarketDataClient.MarketDataClient, Effect.flatMap(MarketDataClients, (registry) => registry.get(name)))
