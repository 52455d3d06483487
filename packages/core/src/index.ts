/**
 * @effect-resilience/core — circuit breakers, retries, bulkheads, timeouts
 * and token-bucket rate limiting as Effect values and Layers.
 *
 * @since 0.1.0
 */

/**
 * Typed errors of every policy and the `ResilienceError` union.
 *
 * @since 0.1.0
 */
export * as ResilienceError from "./ResilienceError.js"

/**
 * Token-bucket storage behind `RateLimiter`: the `RateLimiterStore` Tag, its
 * decision model, and the bounded in-memory store (`layerMemory`).
 *
 * @since 0.1.0
 */
export * as RateLimiterStore from "./RateLimiterStore.js"

/**
 * Schema-validated per-service-type settings (breaker, retry, bulkhead,
 * timeout): the BROKER / DATA_PROVIDER / INTERNAL profiles, the trading
 * gateway's tables, overrides from code, JSON or environment variables.
 *
 * @since 0.1.0
 */
export * as ResilienceConfig from "./ResilienceConfig.js"
