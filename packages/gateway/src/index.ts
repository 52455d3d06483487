/**
 * The trading gateway: an HttpApi server over the simulated (or real)
 * broker and market-data clients, with the resilience toolkit on every call
 * and a live dashboard. Run it with `pnpm start`.
 *
 * @since 0.1.0
 */

/**
 * The HttpApi definition (groups, endpoints, fault-injection schemas).
 *
 * @since 0.1.0
 */
export * as Api from "./Api.js"

/**
 * The gateway's configuration (Effect `Config`) and its start-up error text.
 *
 * @since 0.1.0
 */
export * as GatewayConfig from "./GatewayConfig.js"

/**
 * HTTP errors and the mapping from client and policy errors.
 *
 * @since 0.1.0
 */
export * as HttpErrors from "./HttpErrors.js"

/**
 * Provider selection and the simulated providers' fault control.
 *
 * @since 0.1.0
 */
export * as Providers from "./Providers.js"

/**
 * The Node server's limits and deadlines, the request guard, typed transport errors.
 *
 * @since 0.1.0
 */
export * as HttpTransport from "./HttpTransport.js"

/**
 * The handlers of the gateway's groups (and the bars encoding).
 *
 * @since 0.1.0
 */
export * as Handlers from "./Handlers.js"

/**
 * The market-data routes' hedge and stale-quote fallback.
 *
 * @since 0.2.0
 */
export * as MarketDataPolicy from "./MarketDataPolicy.js"

/**
 * Idempotent order placement on the client's id.
 *
 * @since 0.1.0
 */
export * as OrderIdempotency from "./OrderIdempotency.js"

/**
 * API keys and the rate limiter's client identity.
 *
 * @since 0.1.0
 */
export * as ApiKeys from "./ApiKeys.js"

/**
 * Request counters, breaker history and the dashboard's state.
 *
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * The whole gateway as a Layer.
 *
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.js"

/**
 * The chaos driver behind `pnpm chaos`.
 *
 * @since 0.1.0
 */
export * as Chaos from "./Chaos.js"
