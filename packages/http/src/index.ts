/**
 * @effect-resilience/http — what an Effect HttpApi server adds to protect
 * every route (rate limiting, load shedding, a status API, Prometheus
 * metrics), and what an Effect HttpClient adds to survive its upstreams.
 *
 * @since 0.1.0
 */

/**
 * Client keys for rate limiting: API key, principal or spoof-resistant client IP.
 *
 * @since 0.1.0
 */
export * as ClientKey from "./ClientKey.js"
