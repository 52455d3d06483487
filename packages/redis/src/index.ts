/**
 * @effect-resilience/redis — distributed stores for effect-resilience on
 * Redis: a fleet-wide token-bucket rate limiter store.
 *
 * @since 0.1.0
 */

/**
 * `RateLimiterStore` on Redis: one Lua round trip per decision on the
 * server's clock, TTL'd hash-tagged keys, and a configured failure mode
 * (fail open, fail closed, local fallback) when Redis is down or slow.
 *
 * @since 0.1.0
 */
export * as RedisRateLimiterStore from "./RedisRateLimiterStore.js"
