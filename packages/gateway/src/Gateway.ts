/**
 * The whole gateway as one Layer: the HttpApi server on NodeHttpServer, its
 * rate limit (per API key, else client IP; in memory or on Redis) and load
 * shedding, the providers (their breakers fleet-wide on Redis with
 * `BREAKER_REDIS_URL`), the status group, Prometheus metrics, OpenAPI +
 * Swagger, the dashboard, demo traffic, and a graceful shutdown.
 *
 * `layer(config)` is what `main.ts` launches and what the tests build on
 * port 0. `GatewayServer` gives the bound URL.
 *
 * The Node server and the guard in front of the API are `HttpTransport`'s
 * (deadlines, body and header limits, typed errors); the request lifecycle
 * (in-flight count, client aborts, drain) is `Telemetry`'s middleware, the
 * outermost one.
 *
 * Shutdown (the layer's scope closing: SIGINT / SIGTERM under
 * `NodeRuntime.runMain`) is bounded by `shutdownTimeout` plus under a second:
 * the listener closes (new connections are refused), requests arriving on
 * open connections get `503 ShuttingDown` + `Retry-After` +
 * `Connection: close`, event streams end, in-flight requests finish; those
 * still unfinished at `shutdownTimeout` are answered `503 ShuttingDown` and
 * interrupted; idle connections close, and any left after a short grace are
 * destroyed. Only then are the providers and the Redis connection released.
 *
 * @since 0.1.0
 */
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import * as ResilienceConfig from "@effect-resilience/core/ResilienceConfig"
import * as LoadShedding from "@effect-resilience/http/LoadShedding"
import * as RateLimit from "@effect-resilience/http/RateLimit"
import * as ResilienceStatus from "@effect-resilience/http/ResilienceStatus"
import * as StatusSources from "@effect-resilience/http/StatusSources"
import * as RedisCircuitBreakerStore from "@effect-resilience/redis/RedisCircuitBreakerStore"
import * as RedisRateLimiterStore from "@effect-resilience/redis/RedisRateLimiterStore"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Http from "node:http"
import { GatewayApi } from "./Api.js"
import * as ApiKeys from "./ApiKeys.js"
import * as Dashboard from "./Dashboard.js"
import type { GatewayConfig } from "./GatewayConfig.js"
import * as Handlers from "./Handlers.js"
import * as HttpTransport from "./HttpTransport.js"
import * as Observability from "./Observability.js"
import * as Providers from "./Providers.js"
import * as Telemetry from "./Telemetry.js"
import * as Traffic from "./Traffic.js"

/**
 * The running gateway: its base URL and the underlying Node server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly url: string
  readonly server: Http.Server
}

/**
 * The running gateway as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class GatewayServer
  extends Context.Tag("@effect-resilience/gateway/Gateway/GatewayServer")<GatewayServer, Service>()
{}

// Once nothing is in flight: how long open connections get to close on their own before they are destroyed.
const closeGrace = Duration.millis(500)

// Fleet-wide with BREAKER_REDIS_URL (every gateway on that Redis opens, probes and closes together), else
// this process's own. Live half-open either way: a breaker's Open → HalfOpen is announced (dashboard, logs,
// gauge) at its reset time even when no traffic reaches it.
const breakerRegistryLayer = (
  config: GatewayConfig
): Layer.Layer<CircuitBreakerRegistry.CircuitBreakerRegistry, unknown> =>
  Option.match(config.fleet.breakerRedisUrl, {
    onNone: () => CircuitBreakerRegistry.layerScoped({ liveHalfOpen: true }),
    onSome: (url) =>
      CircuitBreakerRegistry.layerShared({
        liveHalfOpen: true,
        instanceId: config.fleet.instanceId,
        quorum: { instances: config.fleet.quorum }
      }).pipe(Layer.provide(RedisCircuitBreakerStore.layer({ url })))
  })

const storeLayer = (config: GatewayConfig): Layer.Layer<RateLimiterStore.RateLimiterStore, unknown> =>
  Option.match(config.redisUrl, {
    onNone: () => RateLimiterStore.layerMemory(),
    onSome: (url) => RedisRateLimiterStore.layer({ url, onError: config.redisOnError })
  })

/**
 * The gateway. Fails to build on a bad configuration (`InvalidOptionsError`,
 * `ResilienceConfigError`, `ConfigError` of a provider's keys) or when the
 * port cannot be bound.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: GatewayConfig): Layer.Layer<GatewayServer | Telemetry.Telemetry, unknown> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = HttpTransport.makeServer(config.server)

    // Below everything: registries, the limiter store, the resilience profiles.
    const infra = Layer.mergeAll(
      breakerRegistryLayer(config),
      StatusSources.layer,
      ResilienceConfig.layerConfig,
      Observability.layer(config.telemetry),
      storeLayer(config)
    )
    const providers = Layer.provideMerge(Providers.layer(config), infra)
    const services = Layer.provideMerge(Telemetry.layer, providers)

    const apiLive = HttpApiBuilder.api(GatewayApi).pipe(
      Layer.provide(Handlers.layer(config)),
      Layer.provide(ResilienceStatus.layer(GatewayApi)),
      Layer.provide(Observability.metricsHandlers),
      Layer.provide(RateLimit.layer({
        name: "gateway",
        tokensPerSecond: config.rateLimit.tokensPerSecond,
        burstSize: config.rateLimit.burstSize,
        global: config.rateLimit.globalTokensPerSecond > 0
          ? { tokensPerSecond: config.rateLimit.globalTokensPerSecond, burstSize: config.rateLimit.globalBurstSize }
          : undefined,
        clientKey: ApiKeys.clientKeyOptions(config),
        api: GatewayApi
      }))
    )

    // HttpApiBuilder.serve, with the transport's guard around the API (inside the lifecycle middleware,
    // outside load shedding and the platform's own error answers).
    const serve = HttpApiBuilder.httpApp.pipe(
      Effect.map((app) =>
        HttpServer.serve(
          HttpTransport.guard(config.server)(app),
          (app) => Effect.flatMap(Telemetry.Telemetry, (telemetry) => telemetry.middleware(app))
        )
      ),
      Layer.unwrapEffect,
      Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer])
    ).pipe(
      Layer.provide(Dashboard.layer(config)),
      Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(LoadShedding.layer({
        name: "gateway-server",
        maxInFlight: config.loadShedding.maxInFlight,
        maxQueued: config.loadShedding.maxQueued,
        queueTimeout: config.loadShedding.queueTimeout,
        exempt: ["/health"]
      })),
      Layer.provide(apiLive),
      HttpServer.withLogAddress,
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: config.port, host: config.host }))
    )

    const demoTraffic = config.broker === "simulated" && config.marketData === "simulated" ? config.demoTraffic : 0
    const running = Traffic.layer(demoTraffic, config.rateLimit.apiKeyHeader, false).pipe(
      Layer.provideMerge(serve),
      Layer.provideMerge(services)
    )

    // Acquired last, so released first: drain before anything below is torn down.
    const drain = Layer.scoped(
      GatewayServer,
      Effect.gen(function*() {
        const telemetry = yield* Telemetry.Telemetry
        const http = yield* HttpServer.HttpServer
        const address = http.address
        const url = address._tag === "TcpAddress"
          ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
          : `unix:${address.path}`
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            yield* Effect.logInfo("shutting down: refusing new requests, finishing in-flight ones")
            // Refusing first: a request arriving once the listener is closed is answered 503, never served.
            yield* telemetry.refuse
            const closed = yield* HttpTransport.stopListening(server)
            const drained = yield* telemetry.drain(config.shutdownTimeout)
            if (!drained) {
              const aborted = yield* telemetry.abortInFlight
              yield* Effect.logWarning(
                `shutdown: ${aborted} request(s) still in flight after ${
                  Duration.format(config.shutdownTimeout)
                }: answered 503 ShuttingDown`
              )
            }
            yield* HttpTransport.closeConnections(server, closed, closeGrace)
            yield* Effect.logInfo("shutdown: server closed")
          })
        )
        return { url, server }
      })
    )
    return Layer.provideMerge(drain, running)
  }))
