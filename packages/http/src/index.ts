/**
 * @effect-resilience/http — what an Effect HttpApi server adds to protect
 * every route (rate limiting, load shedding, a status API), and what an Effect HttpClient adds to survive its upstreams.
 *
 * @since 0.1.0
 */

/**
 * Client keys for rate limiting: API key, principal or spoof-resistant client IP.
 *
 * @since 0.1.0
 */
export * as ClientKey from "./ClientKey.js"

/**
 * Load shedding: a server-side bulkhead answering 503 + Retry-After when full.
 *
 * @since 0.1.0
 */
export * as LoadShedding from "./LoadShedding.js"

/**
 * The registry of bulkheads and limiters the status group reports.
 *
 * @since 0.1.0
 */
export * as StatusSources from "./StatusSources.js"

/**
 * A resilient HttpClient transform: per-attempt timeout, Retry-After-aware
 * retries, a breaker per host, no retry of non-idempotent requests.
 *
 * @since 0.1.0
 */
export * as ResilientHttpClient from "./ResilientHttpClient.js"

/**
 * The `Retry-After` header read into a Duration: delta-seconds or HTTP-date.
 *
 * @since 0.1.0
 */
export * as RetryAfter from "./RetryAfter.js"

/**
 * The `RateLimit` HttpApiMiddleware: per-client and global token buckets,
 * 429 + Retry-After, IETF RateLimit / RateLimit-Policy headers.
 *
 * @since 0.1.0
 */
export * as RateLimit from "./RateLimit.js"

/**
 * `GET /resilience/status`: a JSON snapshot of every breaker, bulkhead and
 * limiter, with its Schema.
 *
 * @since 0.1.0
 */
export * as ResilienceStatus from "./ResilienceStatus.js"
