/**
 * Rate limiting for HttpApi servers: an `HttpApiMiddleware` charging every
 * request to a per-client token bucket and, optionally, a global bucket, both
 * in core's `RateLimiter` over whatever `RateLimiterStore` layer you provide
 * (memory, or Redis to share limits across a fleet).
 *
 * ```ts
 * class Api extends HttpApi.make("api").add(Orders).middleware(RateLimit.Middleware) {}
 *
 * const ApiLive = HttpApiBuilder.api(Api).pipe(
 *   Layer.provide(OrdersLive),
 *   Layer.provide(RateLimit.layer({ api: Api, tokensPerSecond: 10, burstSize: 20 })),
 *   Layer.provide(RateLimiterStore.layerMemory())
 * )
 * ```
 *
 * - Rejected requests get `429 Too Many Requests`, `Retry-After` (whole
 *   seconds, rounded up) and a JSON body that is core's `RateLimitedError`
 *   (`{ _tag: "RateLimitedError", key, policy, limit, remaining, retryAfter }`,
 *   `retryAfter` in exact milliseconds): it appears in the OpenAPI document
 *   and an `HttpApiClient` decodes it into the class a program's own
 *   `RateLimiter` fails with.
 * - Every response of a limited endpoint, allowed or rejected, carries the
 *   IETF `RateLimit-Policy` and `RateLimit` fields of
 *   draft-ietf-httpapi-ratelimit-headers-09 (the syntax -10 keeps):
 *   `RateLimit-Policy: "client";q=20;w=2, "global";q=1000;w=10` (quota = burst
 *   size, window = seconds to refill it) and `RateLimit: "client";r=17;t=1`
 *   (the binding bucket of this decision: whole tokens remaining after it,
 *   and seconds until that bucket is full again, rounded up).
 * - With `windows` (a multi-window quota per client, core's
 *   `RateLimiter.Options.windows`), each window is a policy of its own,
 *   named `client-` + its length (`"client-1m";q=100;w=60`: quota = its
 *   limit, window = its length in seconds), and `RateLimit` names the
 *   tightest limit of the decision, window or bucket: the one with the fewest
 *   remaining (when rejected: the one that rejected), `t` the seconds until
 *   it resets (a fixed window resets at its end, aligned to the epoch).
 * - The client key is an API key, an authenticated principal or the client
 *   IP (see `ClientKey`; forwarding headers only from trusted proxies).
 * - Per-endpoint cost and exemptions by annotation
 *   (`HttpApiEndpoint.annotate(RateLimit.Cost, 5)`,
 *   `.annotate(RateLimit.Exempt, true)`, or the same on a group), read from
 *   the `api` option, or by the `cost` option.
 * - Apply it to a whole API (`HttpApi.middleware(RateLimit.Middleware)`:
 *   every request, 404s included, before routing) or to chosen groups
 *   (`HttpApiGroup.middleware(RateLimit.Middleware)`), not both.
 *
 * If the store fails (and is configured to propagate failures), the request
 * is let through: an outage of the limiter must not become an outage of the
 * API. One warning is logged when the store starts failing and one info line,
 * with the number of requests let through, when it answers again; never one
 * line per request.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect-resilience/core/RateLimiter"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import { RateLimitedError } from "@effect-resilience/core/ResilienceError"
import * as validate from "@effect-resilience/core/Validate"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import type * as Schema from "effect/Schema"
import * as ClientKey from "./ClientKey.js"
import { normalizePath } from "./internal/routePath.js"
import * as StatusSources from "./StatusSources.js"

export {
  /**
   * The middleware's rejection, sent as the body of a `429 Too Many
   * Requests`: core's one rate-limit rejection (see `RateLimitedResponse`
   * for why it is not a class of this package). `key` is the client's key
   * hashed (`RateLimiterStore.hashKey`: a body must not echo an API key into
   * the logs of proxies and clients; support matches it by hashing the key
   * from the server's logs), `policy` the bucket that refused (`"client"` or
   * `"global"`), `retryAfter` exact (milliseconds on the wire; the
   * `Retry-After` header rounds it up to whole seconds), `limit` and
   * `remaining` that bucket's size and whole tokens left.
   *
   * @since 0.2.0
   * @category errors
   */
  RateLimitedError
} from "@effect-resilience/core/ResilienceError"

/**
 * The 429's Schema: core's `RateLimitedError` with the HttpApi status
 * annotation. One class rather than an http twin (this package's
 * `RateLimitExceeded` until 0.2.0, with `retryAfter` in seconds): a program
 * that limits its own calls and one that calls a limited API catch the same
 * `_tag` with the same fields, `retryAfter` is a `Duration` on both sides
 * (so `Retry` honours a decoded 429 exactly, where a seconds number read as
 * milliseconds would retry 1000× too soon), and there is one name for one
 * concept.
 *
 * @since 0.2.0
 * @category errors
 */
export const RateLimitedResponse: Schema.SchemaClass<
  RateLimitedError,
  Schema.Schema.Encoded<typeof RateLimitedError>
> = RateLimitedError.annotations(
  HttpApiSchema.annotations({ status: 429, description: "Too Many Requests: retry after `retryAfter` milliseconds" })
)

/**
 * The middleware tag: declare it on an API or group with
 * `.middleware(RateLimit.Middleware)` and provide `RateLimit.layer(...)`.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Middleware extends HttpApiMiddleware.Tag<Middleware>()("@effect-resilience/http/RateLimit/Middleware", {
  failure: RateLimitedResponse
}) {}

/**
 * Endpoint or group annotation: how many tokens a request costs (default 1;
 * `0` exempts it).
 *
 * @since 0.1.0
 * @category annotations
 */
export class Cost extends Context.Tag("@effect-resilience/http/RateLimit/Cost")<Cost, number>() {}

/**
 * Endpoint or group annotation: `true` exempts it from rate limiting (health
 * checks, metrics scrapes). Exempt responses carry no RateLimit headers.
 *
 * @since 0.1.0
 * @category annotations
 */
export class Exempt extends Context.Tag("@effect-resilience/http/RateLimit/Exempt")<Exempt, boolean>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Names the limiter (store key prefix, metrics, status page). Two servers
   * with the same name over one Redis share their buckets.
   *
   * @default "http"
   */
  readonly name?: string | undefined
  /** Refill rate of each client's bucket (> 0, fractions allowed). */
  readonly tokensPerSecond: number
  /**
   * Each client's bucket size: its largest burst.
   *
   * @default Math.max(1, Math.ceil(tokensPerSecond))
   */
  readonly burstSize?: number | undefined
  /**
   * A bucket shared by all clients, which every request must pass too.
   *
   * @default none
   */
  readonly global?: { readonly tokensPerSecond: number; readonly burstSize?: number | undefined } | undefined
  /**
   * A multi-window quota per client, which every request must pass too
   * (core's `RateLimiter.Options.windows`: fixed windows aligned to the
   * epoch, e.g. `[{ limit: 100, per: "1 minute" }, { limit: 5000, per: "1 day" }]`).
   *
   * @default none
   */
  readonly windows?: ReadonlyArray<RateLimiter.Window> | undefined
  /**
   * How clients are told apart (API key, principal, IP, trusted proxies).
   *
   * @default the socket peer's IP, IPv6 grouped by /64
   */
  readonly clientKey?: ClientKey.Options | undefined
  /**
   * The API whose `Cost` / `Exempt` annotations to honour.
   *
   * @default undefined (every request costs 1)
   */
  readonly api?: HttpApi.HttpApi.Any | undefined
  /**
   * A request's cost, overriding annotations; `0` exempts it, `undefined`
   * falls back to the annotations.
   *
   * @default undefined
   */
  readonly cost?: ((request: HttpServerRequest.HttpServerRequest) => number | undefined) | undefined
}

interface Route {
  readonly method: string
  readonly segments: ReadonlyArray<string | null> // null: a parameter
  readonly cost: number
}

/**
 * The `RateLimit.Middleware` implementation. Requires a `RateLimiterStore`;
 * registers the limiter into `StatusSources` when that service is present.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Middleware, InvalidOptionsError, RateLimiterStore.RateLimiterStore> =>
  Layer.scoped(Middleware, make(options))

/**
 * Build the middleware effect (what `layer` provides).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const name = yield* validate.printableName("RateLimit", "name", options.name, "http")
  if (!/^[A-Za-z0-9_.:@/+=#-]+$/.test(name)) {
    return yield* validate.fail("RateLimit", "name", name, "must use only [A-Za-z0-9_.:@/+=#-]")
  }
  const limiter = yield* RateLimiter.make({
    name,
    tokensPerSecond: options.tokensPerSecond,
    burstSize: options.burstSize,
    global: options.global,
    mode: "fail",
    windows: options.windows
  })
  const keys = yield* ClientKey.make(options.clientKey)
  const { routes, staticCosts } = compileAnnotations(options.api, limiter.options.maxCost)
  const userCost = options.cost

  const clientBurst = limiter.options.burstSize
  const clientWindow = Math.max(1, Math.ceil(clientBurst / limiter.options.tokensPerSecond))
  const global = limiter.options.global
  const globalBurst = global._tag === "Some" ? global.value.burstSize : -1
  const policyBase = global._tag === "Some"
    ? `"client";q=${clientBurst};w=${clientWindow}, "global";q=${globalBurst};w=${
      Math.max(1, Math.ceil(globalBurst / global.value.tokensPerSecond))
    }`
    : `"client";q=${clientBurst};w=${clientWindow}`
  // Windows follow the buckets in a decision's `binding`; each is a policy of its own.
  const bucketCount = global._tag === "Some" ? 2 : 1
  const windowPolicies = limiter.options.windows.map((w) =>
    `client-${Duration.format(Duration.millis(w.windowMillis)).replace(/ /g, "")}`
  )
  const policyHeader = policyBase +
    limiter.options.windows.map((w, j) =>
      `, "${windowPolicies[j]}";q=${w.limit};w=${Math.max(1, Math.ceil(w.windowMillis / 1000))}`
    ).join("")
  // 0: client, 1: global, 2 + j: window j
  const policyIndex = (decision: RateLimiterStore.Decision): number => {
    const binding = decision.binding
    if (binding !== undefined && binding >= bucketCount && binding - bucketCount < windowPolicies.length) {
      return 2 + binding - bucketCount
    }
    return limiter.boundBy(decision) === "global" ? 1 : 0
  }
  const policyNames = ["client", "global", ...windowPolicies]

  let allowedCount = 0
  let rejectedCount = 0
  yield* StatusSources.registerLimiter(
    name,
    Effect.map(Effect.either(limiter.stats), (stats) => ({
      name,
      limit: clientBurst,
      windowSeconds: clientWindow,
      keys: stats._tag === "Right" && stats.right.keys._tag === "Some" ? stats.right.keys.value : -1,
      globalRemaining: stats._tag === "Right" && stats.right.global._tag === "Some"
        ? stats.right.global.value.remaining
        : undefined,
      globalLimit: global._tag === "Some" ? globalBurst : undefined,
      allowed: allowedCount,
      rejected: rejectedCount
    }))
  )

  const costOf = (request: HttpServerRequest.HttpServerRequest, context: Context.Context<never>): number => {
    if (userCost !== undefined) {
      const cost = userCost(request)
      if (cost !== undefined) return cost >= 0 && cost <= limiter.options.maxCost ? cost : limiter.options.maxCost
    }
    if (staticCosts.size === 0 && routes.length === 0) return 1
    const route = Context.getOption(context, HttpRouter.RouteContext)
    if (route._tag === "Some") {
      // group-level middleware: the router already matched the endpoint
      const cost = staticCosts.get(`${route.value.route.method} ${route.value.route.path}`)
      return cost ?? 1
    }
    const q = request.url.indexOf("?")
    const path = normalizePath(q === -1 ? request.url : request.url.slice(0, q))
    const exact = staticCosts.get(`${request.method} ${path}`)
    if (exact !== undefined) return exact
    return routes.length === 0 ? 1 : matchRoute(routes, request.method, path)
  }

  // Handlers cached by decision; the key packs (remaining, reset, policy) into one number when it fits (no string
  // building per request), else a string.
  const handlers = new Map<string | number, HttpApp.PreResponseHandler>()
  const headersHandler = (policyAt: number, remaining: number, reset: number, retryAfter: number) => {
    const cacheKey = retryAfter < 0 && Number.isInteger(remaining) && remaining >= 0 && remaining < 2 ** 32 &&
        Number.isInteger(reset) && reset >= 0 && reset < 2 ** 16
      ? (remaining * 2 ** 16 + reset) * 16 + policyAt
      : `${policyAt};r=${remaining};t=${reset}|${retryAfter}`
    let handler = handlers.get(cacheKey)
    if (handler === undefined) {
      const rateLimit = `"${policyNames[policyAt]}";r=${remaining};t=${reset}`
      const retryAfterText = String(retryAfter)
      // `setHeader` per field, not `setHeaders(record)`: the latter re-parses the record and spreads the
      // null-prototype Headers, about ten times slower for two fields
      handler = retryAfter < 0
        ? (_request, response) =>
          Effect.succeed(
            HttpServerResponse.setHeader(
              HttpServerResponse.setHeader(response, "ratelimit-policy", policyHeader),
              "ratelimit",
              rateLimit
            )
          )
        : (_request, response) =>
          Effect.succeed(
            HttpServerResponse.setHeader(
              HttpServerResponse.setHeader(
                HttpServerResponse.setHeader(response, "ratelimit-policy", policyHeader),
                "ratelimit",
                rateLimit
              ),
              "retry-after",
              retryAfterText
            )
          )
      // a tiny cache: a few hundred distinct (remaining, reset) pairs cover most traffic
      if (handlers.size < 1024) handlers.set(cacheKey, handler)
    }
    return handler
  }

  // The response to a decision: headers on every limited response, and the 429 failure on a rejection.
  // The headers go on through HttpApp's public pre-response hook (one FiberRef update step).
  const respond = (key: string, decision: RateLimiterStore.Decision): Effect.Effect<void, RateLimitedError> => {
    const policyAt = policyIndex(decision)
    const reset = Math.ceil(decision.resetAfterMillis / 1000)
    if (decision.allowed) {
      allowedCount++
      return HttpApp.appendPreResponseHandler(headersHandler(policyAt, decision.remaining, reset, -1))
    }
    rejectedCount++
    const policy = limiter.boundBy(decision)
    const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMillis / 1000))
    return Effect.zipRight(
      HttpApp.appendPreResponseHandler(headersHandler(policyAt, decision.remaining, reset, retryAfter)),
      Effect.fail(
        new RateLimitedError({
          key: RateLimiterStore.hashKey(key),
          policy,
          limit: decision.limit,
          remaining: decision.remaining,
          retryAfter: Duration.millis(decision.retryAfterMillis)
        }, { disableValidation: true })
      )
    )
  }

  // `consume`'s rejection debug log, which the synchronous decision leaves to its caller; built only when debug
  // logs are on, so a flood of rejections costs no annotations nobody logs.
  const rejectionLog = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    key: string,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<void> | undefined =>
    LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
      ? undefined
      : Effect.annotateLogs(Effect.logDebug("rate limiter rejected a call"), {
        limiter: name,
        key: RateLimiter.clientKey(key),
        retryAfterMillis: decision.retryAfterMillis,
        limit: decision.limit,
        remaining: decision.remaining,
        rejectedBy: decision.rejectedBy ?? ""
      })

  // A failing store is logged once per episode (its first failure, then the count when it answers again), never
  // once per request: an outage of the store must not become a flood of log lines.
  let storeFailures = 0
  const storeFailed = (error: RateLimiterStore.RateLimiterStoreError): Effect.Effect<void> => {
    storeFailures++
    return storeFailures > 1 ? Effect.void : Effect.annotateLogs(
      Effect.logWarning("RateLimit: the store failed; requests are let through until it answers again"),
      { limiter: name, store: error.store, reason: error.reason }
    )
  }
  const storeRecovered = (): Effect.Effect<void> => {
    const letThrough = storeFailures
    storeFailures = 0
    return Effect.annotateLogs(
      Effect.logInfo("RateLimit: the store answers again"),
      { limiter: name, requestsLetThrough: letThrough }
    )
  }

  // The in-memory store decides synchronously: within this fiber step, no Effect of its own (undefined: Redis).
  const unsafeConsume = RateLimiter.unsafeConsumeOf(limiter)

  const middleware = Effect.withFiberRuntime<void, RateLimitedError>((fiber) => {
    const context = fiber.currentContext
    const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
    const cost = costOf(request, context)
    if (cost === 0) return Effect.void
    const key = keys.resolve(request, context)
    if (unsafeConsume !== undefined) {
      const decision = unsafeConsume(fiber, key, cost)
      if (decision !== undefined) {
        const response = respond(key, decision)
        if (decision.allowed) return response
        const log = rejectionLog(fiber, key, decision)
        return log === undefined ? response : Effect.zipRight(log, response)
      }
    }
    return Effect.matchEffect(limiter.consume(key, { cost }), {
      onFailure: storeFailed,
      onSuccess: (decision) =>
        storeFailures === 0
          ? respond(key, rawOf(decision))
          : Effect.zipRight(storeRecovered(), respond(key, rawOf(decision)))
    })
  })
  return Middleware.of(middleware)
})

// A remote store's decision (Durations, from `consume`) in the raw millisecond form the synchronous path gets and
// `respond` reads: the headers count whole seconds computed from exact milliseconds either way.
const rawOf = (decision: RateLimiter.Decision): RateLimiterStore.Decision => ({
  allowed: decision.allowed,
  waitMillis: Duration.toMillis(decision.wait),
  limit: decision.limit,
  remaining: decision.remaining,
  resetAfterMillis: Duration.toMillis(decision.resetAfter),
  retryAfterMillis: Duration.toMillis(decision.retryAfter),
  rejectedBy: decision.rejectedBy,
  binding: decision.binding
})

const compileAnnotations = (api: HttpApi.HttpApi.Any | undefined, maxCost: number) => {
  const staticCosts = new Map<string, number>()
  const routes: Array<Route> = []
  if (api === undefined) return { staticCosts, routes }
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, mergedAnnotations }) => {
      const exempt = Context.getOption(mergedAnnotations, Exempt)
      const costAnnotation = Context.getOption(mergedAnnotations, Cost)
      let cost = 1
      if (exempt._tag === "Some" && exempt.value) cost = 0
      else if (costAnnotation._tag === "Some") {
        const c = costAnnotation.value
        cost = Number.isFinite(c) && c >= 0 ? Math.min(c, maxCost) : 1
      }
      if (cost === 1) return
      staticCosts.set(`${endpoint.method} ${normalizePath(endpoint.path)}`, cost)
      if (endpoint.path.includes(":") || endpoint.path.includes("*")) {
        routes.push({
          method: endpoint.method,
          segments: normalizePath(endpoint.path).split("/").map((s) => (s.startsWith(":") || s === "*" ? null : s)),
          cost
        })
      }
    }
  })
  return { staticCosts, routes }
}

const matchRoute = (routes: ReadonlyArray<Route>, method: string, path: string): number => {
  const segments = path.split("/")
  for (const route of routes) {
    if (route.method !== method && route.method !== "*") continue
    if (route.segments.length !== segments.length) continue
    let ok = true
    for (let i = 0; i < segments.length; i++) {
      const s = route.segments[i]
      if (s !== null && s !== segments[i]) {
        ok = false
        break
      }
    }
    if (ok) return route.cost
  }
  return 1
}
