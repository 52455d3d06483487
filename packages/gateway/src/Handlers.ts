/**
 * The handlers of the gateway's groups: each endpoint is one client call,
 * its failure mapped to an HTTP error by `HttpErrors`.
 *
 * @since 0.1.0
 */
import { BrokerClient } from "@effect-resilience/clients/BrokerClient"
import { MarketDataClient } from "@effect-resilience/clients/MarketDataClient"
import type { Bar } from "@effect-resilience/clients/Models"
import * as Simulated from "@effect-resilience/clients/Simulated"
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type FaultRequest, GatewayApi } from "./Api.js"
import * as ApiKeys from "./ApiKeys.js"
import type { GatewayConfig } from "./GatewayConfig.js"
import * as HttpErrors from "./HttpErrors.js"
import * as MarketDataPolicy from "./MarketDataPolicy.js"
import * as OrderIdempotency from "./OrderIdempotency.js"
import { FaultControl } from "./Providers.js"
import { Telemetry, viewFaults } from "./Telemetry.js"

// A replayed placement answers 200 (the first answered 201), with a header saying so.
const replayed = HttpApp.appendPreResponseHandler((_request, response) =>
  Effect.succeed(
    HttpServerResponse.setHeader(HttpServerResponse.setStatus(response, 200), "idempotent-replayed", "true")
  )
)

/**
 * `/orders`.
 *
 * @since 0.1.0
 * @category layers
 */
export const OrdersLive = HttpApiBuilder.group(GatewayApi, "orders", (handlers) =>
  Effect.gen(function*() {
    const broker = yield* BrokerClient
    const orders = yield* OrderIdempotency.OrderIdempotency
    return handlers
      .handle("placeOrder", ({ payload }) =>
        // One client order id per logical order (every retry inside the client reuses it), placed once per id.
        Effect.flatMap(
          orders.place(payload),
          ({ order, replayed: isReplay }) => isReplay ? Effect.as(replayed, order) : Effect.succeed(order)
        ))
      .handle("listOpenOrders", () => broker.listOpenOrders.pipe(Effect.catchAll(HttpErrors.fromClientError)))
      .handle("getOrder", ({ path }) => broker.getOrder(path.id).pipe(Effect.catchAll(HttpErrors.fromClientError)))
      .handle("getOrderByClientId", ({ path }) =>
        broker.getOrderByClientOrderId(path.id).pipe(
          Effect.catchAll(HttpErrors.fromClientError),
          Effect.flatMap(Option.match({
            onNone: () =>
              Effect.fail(
                new HttpErrors.NotFound({
                  resource: "order",
                  id: path.id,
                  message: `No order with client order id "${path.id}"`
                })
              ),
            onSome: Effect.succeed
          }))
        ))
      .handle(
        "cancelOrder",
        ({ path }) => broker.cancelOrder(path.id).pipe(Effect.catchAll(HttpErrors.fromCancelError))
      )
  }))

/**
 * `/positions`, `/account`.
 *
 * @since 0.1.0
 * @category layers
 */
export const AccountLive = HttpApiBuilder.group(GatewayApi, "account", (handlers) =>
  Effect.gen(function*() {
    const broker = yield* BrokerClient
    return handlers
      .handle("positions", () => broker.positions.pipe(Effect.catchAll(HttpErrors.fromClientError)))
      .handle("account", () => broker.account.pipe(Effect.catchAll(HttpErrors.fromClientError)))
  }))

/**
 * A bar as `Schema.encode(Models.Bar)` writes it (the test checks they agree),
 * by hand: Schema-encoding 10,000 `Bar` instances held the event loop about
 * 200 ms on this machine, this takes about a microsecond a bar.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeBar = (bar: Bar): typeof Bar.Encoded => ({
  symbol: bar.symbol,
  timeframe: bar.timeframe,
  timestamp: bar.timestamp.toISOString(),
  open: bar.open,
  high: bar.high,
  low: bar.low,
  close: bar.close,
  volume: bar.volume
})

const encodeChunk = 1_000

/**
 * The JSON response of a bars query, encoded in chunks of 1,000 bars that let
 * the event loop run between them (other requests, `/health`): no single step
 * holds it for more than a few milliseconds, however many bars.
 *
 * @since 0.1.0
 * @category encoding
 */
export const barsResponse = (bars: ReadonlyArray<Bar>): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function*() {
    let body = "["
    for (let i = 0; i < bars.length; i += encodeChunk) {
      if (i > 0) {
        body += ","
        yield* Simulated.yieldToEventLoop
      }
      body += JSON.stringify(bars.slice(i, i + encodeChunk).map(encodeBar)).slice(1, -1)
    }
    return HttpServerResponse.text(body + "]", { contentType: "application/json" })
  })

// A stale quote says so in its headers too (`Age` in seconds, as caches send it).
const staleHeaders = (ageMillis: number) =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    Effect.succeed(
      HttpServerResponse.setHeaders(response, {
        "quote-stale": "true",
        age: String(Math.floor(ageMillis / 1000))
      })
    )
  )

/**
 * `/marketdata`: quotes and bars hedged, a quote served stale while the
 * provider fails (see `MarketDataPolicy`).
 *
 * @since 0.2.0
 * @category layers
 */
export const marketDataLive = (config: GatewayConfig) =>
  HttpApiBuilder.group(GatewayApi, "marketData", (handlers) =>
    Effect.gen(function*() {
      const data = yield* MarketDataPolicy.make(yield* MarketDataClient, config.marketDataPolicy)
      return handlers
        .handle("bars", ({ path, urlParams }) =>
          urlParams.from !== undefined && urlParams.to !== undefined && urlParams.from > urlParams.to
            ? Effect.fail(new HttpErrors.BadRequest({ message: "from must not be after to" }))
            : data.bars(path.symbol.toUpperCase(), urlParams.timeframe, {
              limit: urlParams.limit,
              from: urlParams.from,
              to: urlParams.to
            }).pipe(Effect.catchAll(HttpErrors.fromClientError), Effect.flatMap(barsResponse)))
        .handle("quote", ({ path }) =>
          data.quote(path.symbol.toUpperCase()).pipe(
            Effect.catchAll(HttpErrors.fromClientError),
            Effect.tap((quote) =>
              quote.ageMillis === undefined ? Effect.void : staleHeaders(quote.ageMillis)
            )
          ))
    }))

const applyFault = (injector: Simulated.FaultInjector, request: FaultRequest): Effect.Effect<void> => {
  switch (request.kind) {
    case "outage":
      return injector.outage(true)
    case "429-storm":
      return injector.rateLimitBurst(request.calls ?? 200, Duration.millis(request.retryAfterMillis ?? 1000))
    case "slow-quotes":
      return injector.set({ slowQuotes: Duration.millis(request.millis ?? 2500) })
    case "error-rate":
      return injector.set({ errorRate: request.rate ?? 0.5 })
    case "timeout-after-accept":
      return injector.set({
        timeoutAfterAcceptRate: request.rate ?? 0.5,
        hangFor: Duration.millis(request.millis ?? 60_000)
      })
    case "latency":
      return Effect.flatMap(
        injector.get,
        (faults) => injector.set({ latency: { ...faults.latency, base: Duration.millis(request.millis ?? 500) } })
      )
  }
}

/**
 * `/admin`.
 *
 * @since 0.1.0
 * @category layers
 */
export const adminLive = (config: GatewayConfig) =>
  HttpApiBuilder.group(GatewayApi, "admin", (handlers) =>
    Effect.gen(function*() {
      const control = yield* FaultControl
      const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
      const telemetry = yield* Telemetry
      const disabled = new HttpErrors.NotSimulated({ message: "The admin API is disabled (GATEWAY_ADMIN=false)" })
      const guard = <A, E>(self: Effect.Effect<A, E>) => config.admin ? self : Effect.fail(disabled)
      const injectorOf = (target: "broker" | "marketdata") => {
        const injector = target === "broker" ? control.broker : control.marketData
        return Option.match(injector, {
          onNone: () =>
            Effect.fail(
              new HttpErrors.NotSimulated({
                message: `Faults can only be injected into a simulated provider; the ${target} is "${
                  target === "broker" ? control.brokerName : control.marketDataName
                }"`
              })
            ),
          onSome: Effect.succeed
        })
      }
      const current = Effect.all({
        broker: Option.match(control.broker, {
          onNone: () => Effect.succeed(null),
          onSome: (i) => Effect.map(i.get, viewFaults)
        }),
        marketdata: Option.match(control.marketData, {
          onNone: () => Effect.succeed(null),
          onSome: (i) => Effect.map(i.get, viewFaults)
        })
      })
      return handlers
        .handle("getFaults", () => guard(current))
        .handle("injectFault", ({ payload }) =>
          guard(Effect.gen(function*() {
            const injector = yield* injectorOf(payload.target)
            yield* applyFault(injector, payload)
            yield* Effect.logInfo(`fault injected: ${payload.kind} into the ${payload.target}`)
            return yield* current
          })))
        .handle("clearFaults", ({ urlParams }) =>
          guard(Effect.gen(function*() {
            const targets = urlParams.target === undefined ? ["broker", "marketdata"] as const : [urlParams.target]
            for (const target of targets) {
              const injector = target === "broker" ? control.broker : control.marketData
              if (injector._tag === "Some") yield* injector.value.reset
            }
            yield* Effect.logInfo(`faults cleared: ${targets.join(", ")}`)
            return yield* current
          })))
        .handle("book", () =>
          guard(Effect.gen(function*() {
            if (control.book._tag === "None") {
              return yield* new HttpErrors.NotSimulated({
                message: "The order book is only kept by the simulated broker"
              })
            }
            const orders = yield* control.book.value.orders
            const calls = yield* control.book.value.calls
            const duplicatesRejected = yield* control.book.value.duplicatesRejected
            const seen = new Map<string, number>()
            for (const o of orders) seen.set(o.clientOrderId, (seen.get(o.clientOrderId) ?? 0) + 1)
            const duplicated = [...seen].filter(([, n]) => n > 1)
            return {
              orders: orders.length,
              distinctClientOrderIds: seen.size,
              duplicates: duplicated.reduce((sum, [, n]) => sum + n - 1, 0),
              duplicateClientOrderIds: duplicated.map(([id]) => id),
              duplicatesRejected,
              calls
            }
          })))
        .handle("marketDataStats", () =>
          guard(Effect.gen(function*() {
            if (control.marketDataStats._tag === "None") {
              return yield* new HttpErrors.NotSimulated({
                message: "Market-data statistics are only kept by the simulated provider"
              })
            }
            return {
              barsGenerated: yield* control.marketDataStats.value.barsGenerated,
              barsCalls: yield* control.marketDataStats.value.barsCalls
            }
          })))
        .handle("resetBreakers", () =>
          guard(Effect.gen(function*() {
            const breakers = yield* registry.breakers
            yield* Effect.forEach(breakers, (b) => b.reset, { discard: true })
            return { reset: breakers.length }
          })))
        .handle("setTraffic", ({ payload }) =>
          guard(Effect.suspend(() => {
            if (control.broker._tag === "None" || control.marketData._tag === "None") {
              return Effect.fail(
                new HttpErrors.NotSimulated({ message: "Demo traffic needs the simulated broker and market data" })
              )
            }
            telemetry.setTraffic(payload.rps)
            return Effect.succeed({ rps: payload.rps })
          })))
    }))

/**
 * `/health`.
 *
 * @since 0.1.0
 * @category layers
 */
export const HealthLive = HttpApiBuilder.group(GatewayApi, "health", (handlers) =>
  Effect.gen(function*() {
    const control = yield* FaultControl
    const telemetry = yield* Telemetry
    return handlers.handle("health", () =>
      Effect.map(telemetry.state, (s) => ({
        status: s.draining ? "draining" as const : "ok" as const,
        broker: control.brokerName,
        marketData: control.marketDataName
      })))
  }))

/**
 * Every group's handlers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: GatewayConfig) =>
  Layer.mergeAll(
    OrdersLive.pipe(
      Layer.provide(OrderIdempotency.layer({ maxIds: config.orders.maxIdempotencyIds }))
    ),
    AccountLive,
    marketDataLive(config),
    adminLive(config),
    HealthLive,
    ApiKeys.layer(config)
  )
