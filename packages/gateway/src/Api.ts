/**
 * The gateway's HttpApi: orders, account, market data, admin (fault
 * injection), health, plus the resilience status group and Prometheus
 * metrics. The whole API sits behind the `RateLimit` middleware; the
 * OpenAPI document is served at `/openapi.json` and Swagger at `/docs`.
 *
 * @since 0.1.0
 */
import * as Models from "@effect-resilience/clients/Models"
import * as Prometheus from "@effect-resilience/http/Prometheus"
import * as RateLimit from "@effect-resilience/http/RateLimit"
import * as ResilienceStatus from "@effect-resilience/http/ResilienceStatus"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import * as HttpErrors from "./HttpErrors.js"

const IdParam = Schema.Struct({ id: Schema.String })

// Every group that calls a provider answers with the same mapped upstream errors.
const withUpstreamErrors = <
  Id extends string,
  Endpoints extends HttpApiEndpoint.HttpApiEndpoint.Any,
  E,
  R,
  TopLevel extends boolean
>(group: HttpApiGroup.HttpApiGroup<Id, Endpoints, E, R, TopLevel>) =>
  group
    .addError(HttpErrors.CircuitOpen)
    .addError(HttpErrors.ProviderBusy)
    .addError(HttpErrors.UpstreamRateLimited)
    .addError(HttpErrors.UpstreamTimeout)
    .addError(HttpErrors.NotFound)
    .addError(HttpErrors.BadRequest)
    .addError(HttpErrors.BadGateway)

/**
 * `/orders`: place, list open, get, look up by client order id, cancel.
 *
 * @since 0.1.0
 * @category groups
 */
export class OrdersGroup extends withUpstreamErrors(
  HttpApiGroup.make("orders")
    .add(
      HttpApiEndpoint.post("placeOrder", "/")
        .setPayload(Models.OrderRequest)
        .addSuccess(Models.Order, { status: 201 })
        .addError(HttpErrors.OrderRejected)
        .addError(HttpErrors.OrderStatusUnknown)
        .annotate(
          OpenApi.Description,
          "Place an order. Without a clientOrderId the gateway assigns one; every retry reuses it, so an order is placed at most once."
        )
    )
    .add(HttpApiEndpoint.get("listOpenOrders", "/").addSuccess(Schema.Array(Models.Order)))
    .add(
      HttpApiEndpoint.get("getOrderByClientId", "/by-client-id/:id")
        .setPath(IdParam)
        .addSuccess(Models.Order)
    )
    .add(HttpApiEndpoint.get("getOrder", "/:id").setPath(IdParam).addSuccess(Models.Order))
    .add(
      HttpApiEndpoint.del("cancelOrder", "/:id").setPath(IdParam).addSuccess(HttpApiSchema.NoContent)
        .addError(HttpErrors.OrderRejected)
    )
).prefix("/orders") {}

/**
 * `/positions`, `/account`.
 *
 * @since 0.1.0
 * @category groups
 */
export class AccountGroup extends withUpstreamErrors(
  HttpApiGroup.make("account")
    .add(HttpApiEndpoint.get("positions", "/positions").addSuccess(Schema.Array(Models.Position)))
    .add(HttpApiEndpoint.get("account", "/account").addSuccess(Models.Account))
) {}

const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 10_000))

/**
 * `/marketdata/bars/:symbol?timeframe=1h&limit=100`, `/marketdata/quote/:symbol`.
 *
 * @since 0.1.0
 * @category groups
 */
export class MarketDataGroup extends withUpstreamErrors(
  HttpApiGroup.make("marketData")
    .add(
      HttpApiEndpoint.get("bars", "/bars/:symbol")
        .setPath(Schema.Struct({ symbol: Schema.String }))
        .setUrlParams(Schema.Struct({
          timeframe: Schema.optionalWith(Models.Timeframe, { default: () => "1h" as const }),
          limit: Schema.optional(Limit),
          from: Schema.optional(Schema.DateFromString),
          to: Schema.optional(Schema.DateFromString)
        }))
        .addSuccess(Schema.Array(Models.Bar))
    )
    .add(
      HttpApiEndpoint.get("quote", "/quote/:symbol")
        .setPath(Schema.Struct({ symbol: Schema.String }))
        .addSuccess(Models.Quote)
    )
).prefix("/marketdata") {}

/**
 * The kinds of fault the admin API injects into the simulated providers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FaultKind = Schema.Literal(
  "outage",
  "429-storm",
  "slow-quotes",
  "error-rate",
  "timeout-after-accept",
  "latency"
)

/**
 * Which simulated provider a fault targets.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FaultTarget = Schema.Literal("broker", "marketdata")

/**
 * `POST /admin/faults`. `rate` (0–1) for `error-rate` and
 * `timeout-after-accept`; `millis` for `slow-quotes` / `latency` (extra
 * latency) and `timeout-after-accept` (how long the lost reply hangs);
 * `calls` and `retryAfterMillis` for `429-storm`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class FaultRequest extends Schema.Class<FaultRequest>("FaultRequest")({
  target: FaultTarget,
  kind: FaultKind,
  rate: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  millis: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 600_000))),
  calls: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 1_000_000))),
  retryAfterMillis: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 600_000)))
}) {}

/**
 * The faults in force on one simulated provider.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FaultsView = Schema.Struct({
  outage: Schema.Boolean,
  errorRate: Schema.Number,
  rateLimitBurst: Schema.Number,
  rateLimitRetryAfterMillis: Schema.Number,
  latencyMillis: Schema.Number,
  slowQuotesMillis: Schema.Number,
  timeoutAfterAcceptRate: Schema.Number,
  hangForMillis: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type FaultsView = typeof FaultsView.Type

/**
 * `GET /admin/faults`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FaultsState = Schema.Struct({
  broker: Schema.NullOr(FaultsView),
  marketdata: Schema.NullOr(FaultsView)
})

/**
 * `GET /admin/broker/book`: the simulated broker's book, duplicates counted
 * by client order id.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BookSummary = Schema.Struct({
  orders: Schema.Number,
  distinctClientOrderIds: Schema.Number,
  duplicates: Schema.Number,
  duplicateClientOrderIds: Schema.Array(Schema.String),
  calls: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/**
 * `/admin`: fault injection into the simulated providers, the simulated
 * order book, breaker reset, demo traffic.
 *
 * @since 0.1.0
 * @category groups
 */
export class AdminGroup extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("getFaults", "/faults").addSuccess(FaultsState))
  .add(HttpApiEndpoint.post("injectFault", "/faults").setPayload(FaultRequest).addSuccess(FaultsState))
  .add(
    HttpApiEndpoint.del("clearFaults", "/faults")
      .setUrlParams(Schema.Struct({ target: Schema.optional(FaultTarget) }))
      .addSuccess(FaultsState)
  )
  .add(HttpApiEndpoint.get("book", "/broker/book").addSuccess(BookSummary))
  .add(HttpApiEndpoint.post("resetBreakers", "/breakers/reset").addSuccess(Schema.Struct({ reset: Schema.Number })))
  .add(
    HttpApiEndpoint.post("setTraffic", "/traffic")
      .setPayload(Schema.Struct({ rps: Schema.Number.pipe(Schema.between(0, 200)) }))
      .addSuccess(Schema.Struct({ rps: Schema.Number }))
  )
  .addError(HttpErrors.NotSimulated)
  .prefix("/admin")
{}

/**
 * `GET /health`: exempt from rate limiting and load shedding.
 *
 * @since 0.1.0
 * @category groups
 */
export class HealthGroup extends HttpApiGroup.make("health", { topLevel: true })
  .add(
    HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({
      status: Schema.Literal("ok", "draining"),
      broker: Schema.String,
      marketData: Schema.String
    }))
  )
  .annotate(RateLimit.Exempt, true)
{}

/**
 * The gateway's API.
 *
 * @since 0.1.0
 * @category api
 */
export class GatewayApi extends HttpApi.make("gateway")
  .add(OrdersGroup)
  .add(AccountGroup)
  .add(MarketDataGroup)
  .add(AdminGroup)
  .add(HealthGroup)
  .add(ResilienceStatus.Group)
  .add(Prometheus.Group)
  .middleware(RateLimit.Middleware)
  .annotate(OpenApi.Title, "effect-resilience trading gateway")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Orders and market data through per-provider circuit breakers, retries, bulkheads and timeouts, " +
      "behind a per-client rate limit and load shedding."
  )
{}
