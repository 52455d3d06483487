/**
 * @effect-resilience/clients — broker and market-data clients with
 * per-provider resilience policies, as Effect services, and order placement
 * that never duplicates an order.
 *
 * @since 0.1.0
 */

/**
 * The common Schema models: orders, positions, accounts, bars, quotes, timeframes.
 *
 * @since 0.1.0
 */
export * as Models from "./Models.js"

/**
 * Typed provider errors and which of them are transient.
 *
 * @since 0.1.0
 */
export * as ClientError from "./ClientError.js"

/**
 * The `BrokerClient` service.
 *
 * @since 0.1.0
 */
export * as BrokerClient from "./BrokerClient.js"

/**
 * The `MarketDataClient` service.
 *
 * @since 0.1.0
 */
export * as MarketDataClient from "./MarketDataClient.js"

/**
 * Broker clients by provider name.
 *
 * @since 0.1.0
 */
export * as BrokerClients from "./BrokerClients.js"

/**
 * Market-data clients by provider name.
 *
 * @since 0.1.0
 */
export * as MarketDataClients from "./MarketDataClients.js"

/**
 * Per-provider policies as data, with the seed's profiles and quota helpers.
 *
 * @since 0.1.0
 */
export * as ProviderPolicy from "./ProviderPolicy.js"

/**
 * Idempotent order placement: one client order id, lookup before resend.
 *
 * @since 0.1.0
 */
export * as IdempotentOrders from "./IdempotentOrders.js"

/**
 * Alpaca Trading API v2.
 *
 * @since 0.1.0
 */
export * as Alpaca from "./Alpaca.js"

/**
 * Interactive Brokers Client Portal Web API.
 *
 * @since 0.1.0
 */
export * as InteractiveBrokers from "./InteractiveBrokers.js"

/**
 * Polygon.io aggregates and NBBO.
 *
 * @since 0.1.0
 */
export * as Polygon from "./Polygon.js"

/**
 * Yahoo Finance chart API.
 *
 * @since 0.1.0
 */
export * as Yahoo from "./Yahoo.js"

/**
 * FRED series observations.
 *
 * @since 0.1.0
 */
export * as Fred from "./Fred.js"

/**
 * Alpha Vantage FX and equities.
 *
 * @since 0.1.0
 */
export * as AlphaVantage from "./AlphaVantage.js"

/**
 * Simulated broker and market data with run-time fault injection.
 *
 * @since 0.1.0
 */
export * as Simulated from "./Simulated.js"
