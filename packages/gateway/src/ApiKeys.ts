/**
 * Client identity that cannot be rotated away: which rate-limit bucket a
 * request is charged to, and the API-key check.
 *
 * - With `API_KEYS` configured, a request carrying one of them (in
 *   `API_KEY_HEADER`) has its own bucket (`apikey:<n>`, its position in the
 *   list: the secret never reaches the limiter's store, logs or metrics). A
 *   request carrying any other key is charged to its IP's bucket and then
 *   answered `401 Unauthorized`: a client rotating made-up keys spends its
 *   IP's budget, and is refused. A request without a key is anonymous and
 *   keyed by its IP.
 * - Without `API_KEYS`, the header is ignored: every request is keyed by its
 *   client IP (IPv6 grouped by /64; forwarding headers believed only from
 *   `TRUSTED_PROXIES`).
 *
 * Either way, a request its client's bucket rejects is not charged to the
 * global bucket (core's `RateLimiter` charges both or neither), so one client
 * cannot drain the global bucket faster than its own rate.
 *
 * @since 0.1.0
 */
import type * as ClientKey from "@effect-resilience/http/ClientKey"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { GatewayConfig } from "./GatewayConfig.js"
import { Unauthorized } from "./HttpErrors.js"

/**
 * The API-key check, declared on the whole API (after `RateLimit`, so an
 * unknown key is charged to its IP first).
 *
 * @since 0.1.0
 * @category middleware
 */
export class Middleware extends HttpApiMiddleware.Tag<Middleware>()("@effect-resilience/gateway/ApiKeys/Middleware", {
  failure: Unauthorized
}) {}

const index = (config: GatewayConfig): ReadonlyMap<string, number> =>
  new Map(config.rateLimit.apiKeys.map((key, i) => [key, i] as const))

/**
 * The rate limiter's `clientKey` options for a configuration (see the module
 * doc).
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientKeyOptions = (config: GatewayConfig): ClientKey.Options => {
  const keys = index(config)
  const header = config.rateLimit.apiKeyHeader
  const trustedProxies = config.rateLimit.trustedProxies
  if (keys.size === 0) return { trustedProxies }
  return {
    trustedProxies,
    // undefined: not a configured key, so the request is keyed by its IP
    key: (request) => {
      const value = request.headers[header]
      const n = typeof value === "string" ? keys.get(value) : undefined
      return n === undefined ? undefined : `apikey:${n}`
    }
  }
}

// Health checks answer whatever key a load balancer sends (the router matches paths case-insensitively, ignoring
// trailing and duplicate slashes).
const isHealth = (url: string): boolean => {
  const q = url.indexOf("?")
  const path = (q === -1 ? url : url.slice(0, q)).replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1")
  return path.toLowerCase() === "/health"
}

/**
 * The `Middleware` implementation: without configured keys it lets every
 * request through; with them, a request carrying a key that is not one of
 * them gets `401 Unauthorized` (`/health` excepted).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: GatewayConfig): Layer.Layer<Middleware> => {
  const keys = index(config)
  const header = config.rateLimit.apiKeyHeader
  const unauthorized = new Unauthorized({
    message: `Unknown API key in the ${header} header: send one of the gateway's configured keys, or none`
  })
  return Layer.succeed(
    Middleware,
    keys.size === 0 ? Effect.void : Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const value = request.headers[header]
      return value === undefined || keys.has(value) || isHealth(request.url) ? Effect.void : Effect.fail(unauthorized)
    })
  )
}
