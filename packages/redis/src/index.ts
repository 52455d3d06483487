/**
 * @effect-resilience/redis — distributed stores for effect-resilience on
 * Redis: a fleet-wide token-bucket rate limiter store and the shared state of
 * fleet-wide circuit breakers.
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

/**
 * `CircuitBreakerStore` on Redis: the shared state of fleet-wide breakers, a
 * versioned compare-and-set register per breaker (one Lua round trip on the
 * server's clock, TTL'd hash-tagged keys) whose writes are pushed to every
 * instance by pub/sub.
 *
 * @since 0.3.0
 */
export * as RedisCircuitBreakerStore from "./RedisCircuitBreakerStore.js"
