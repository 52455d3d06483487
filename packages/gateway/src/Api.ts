/**
 * The gateway's HttpApi: orders, account, market data, admin (fault
 * injection), health, plus the resilience status group and the Prometheus
 * metrics (`GET /metrics`). The whole API sits behind the `RateLimit` middleware; the
 * OpenAPI document is served at `/openapi.json` and Swagger at `/docs`.
 *
 * @since 0.1.0
 */
import * as Models from "@effect-resilience/clients/Models"
import * as RateLimit from "@effect-resilience/http/RateLimit"
import * as ResilienceStatus from "@effect-resilience/http/ResilienceStatus"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ApiKeys from "./ApiKeys.js"
import * as HttpErrors from "./HttpErrors.js"

/**
 * The longest `clientOrderId` the gateway accepts: the router matches path
 * parameters of at most 100 characters, so a longer id could not be looked
 * up with `GET /orders/by-client-id/{id}`.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxClientOrderIdLength = 100

const IdParam = Schema.Struct({ id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxClientOrderIdLength)) })

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
 * The largest `qty` an order may carry.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxOrderQty = 1_000_000

/**
 * The largest `limitPrice` an order may carry.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLimitPrice = 1_000_000

/**
 * `POST /orders`'s body: an `OrderRequest` (finite, positive numbers) whose
 * `qty` is at most `maxOrderQty`, `limitPrice` at most `maxLimitPrice` and
 * `clientOrderId` at most `maxClientOrderIdLength` characters; anything else
 * is a 400.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OrderPayload = Models.OrderRequest.pipe(
  Schema.filter((o) => [
    ...(o.qty <= maxOrderQty ? [] : [{ path: ["qty"], message: `qty must be at most ${maxOrderQty}` }]),
    ...(o.limitPrice === undefined || o.limitPrice <= maxLimitPrice
      ? []
      : [{ path: ["limitPrice"], message: `limitPrice must be at most ${maxLimitPrice}` }]),
    ...(o.clientOrderId === undefined || o.clientOrderId.length <= maxClientOrderIdLength
      ? []
      : [{
        path: ["clientOrderId"],
        message:
          `clientOrderId must be at most ${maxClientOrderIdLength} characters (to be found by /orders/by-client-id)`
      }])
  ])
)

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
        .setPayload(OrderPayload)
        .addSuccess(Models.Order, { status: 201 })
        // a replay of a client order id already placed (set by the handler; documented here for the OpenAPI)
        .addSuccess(Models.Order, { status: 200 })
        .addError(HttpErrors.OrderRejected)
        .addError(HttpErrors.OrderStatusUnknown)
        .addError(HttpErrors.ClientOrderIdConflict)
        .annotate(
          OpenApi.Description,
          "Place an order. Without a clientOrderId the gateway assigns one; every retry reuses it, so an order is " +
            "placed at most once. A clientOrderId the gateway has seen is not placed again: the answer is 200 with " +
            "the order as first returned (header Idempotent-Replayed: true), concurrent requests with one id make " +
            "one order, and the same id with a different order is 409 ClientOrderIdConflict."
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

/**
 * The largest `limit` of a bars query (and the most bars one answer holds).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBarsLimit = 10_000

const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, maxBarsLimit))

/**
 * The earliest date a query may name (inclusive): 1970-01-01T00:00:00Z.
 *
 * @since 0.1.0
 * @category constants
 */
export const minQueryDate = new Date(0)

/**
 * The latest date a query may name (exclusive): 2100-01-01T00:00:00Z.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxQueryDate = new Date(Date.UTC(2100, 0, 1))

const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?$/

/**
 * The instant an ISO 8601 date (`2025-12-07`) or date-time
 * (`2025-12-07T14:30:00Z`, `…+01:00`; UTC without an offset) names, or
 * `undefined` when it names none: every field is range-checked (no
 * `2026-02-30`, no `2026-13-45`), and it must fall in
 * `[minQueryDate, maxQueryDate)`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseQueryDate = (text: string): Date | undefined => {
  const m = isoDateTime.exec(text)
  if (m === null) return undefined
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)]
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  if (m[7] !== undefined && m[7] !== "Z") {
    const [oh, om] = [Number(m[8]), Number(m[9])]
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = (m[7].startsWith("-") ? -1 : 1) * (oh * 60 + om)
  }
  const fraction = /\.(\d+)/.exec(text.slice(10))
  const millis = fraction === null ? 0 : Math.floor(Number(`0.${fraction[1]}`) * 1000)
  const time = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000
  return time >= minQueryDate.getTime() && time < maxQueryDate.getTime() ? new Date(time) : undefined
}

/**
 * A query date (see `parseQueryDate`); anything else is a 400.
 *
 * @since 0.1.0
 * @category schemas
 */
export const QueryDate: Schema.Schema<Date, string> = Schema.transformOrFail(
  Schema.String.pipe(Schema.maxLength(40)),
  Schema.DateFromSelf,
  {
    strict: true,
    decode: (text, _options, ast) => {
      const date = parseQueryDate(text)
      return date === undefined
        ? ParseResult.fail(
          new ParseResult.Type(
            ast,
            text,
            `Expected an ISO 8601 date (YYYY-MM-DD) or date-time between 1970-01-01 and 2100-01-01, got "${text}"`
          )
        )
        : ParseResult.succeed(date)
    },
    encode: (date) => ParseResult.succeed(date.toISOString())
  }
).annotations({ identifier: "QueryDate" })

/**
 * A symbol in a path: 1–32 of `A-Z a-z 0-9 . - _ /`; anything else is a 400
 * (an unknown one is a 404).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SymbolParam = Schema.Struct({
  symbol: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9._-]{1,32}$/, { message: () => "a symbol is 1 to 32 of A-Z a-z 0-9 . _ -" })
  )
})

/**
 * The quote route's answer: the provider's `Quote`, and, when it is the last
 * good quote served because the provider failed (see `MarketDataPolicy`),
 * `stale: true` and its age (the response also carries `Quote-Stale: true`
 * and an `Age` header, in seconds).
 *
 * @since 0.2.0
 * @category schemas
 */
export const QuoteResponse = Schema.Struct({
  ...Models.Quote.fields,
  stale: Schema.optional(Schema.Literal(true)).annotations({
    description: "Present when the provider failed and this is its last good quote"
  }),
  ageMillis: Schema.optional(Schema.NonNegative).annotations({
    description: "How old the stale quote is, in milliseconds"
  })
}).annotations({ identifier: "QuoteResponse" })

/**
 * @since 0.2.0
 * @category schemas
 */
export type QuoteResponse = typeof QuoteResponse.Type

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
        .setPath(SymbolParam)
        .setUrlParams(Schema.Struct({
          timeframe: Schema.optionalWith(Models.Timeframe, { default: () => "1h" as const }),
          limit: Schema.optional(Limit),
          from: Schema.optional(QueryDate),
          to: Schema.optional(QueryDate)
        }))
        .annotate(
          OpenApi.Description,
          `Bars, oldest first: the latest \`limit\` (1–${maxBarsLimit}) of the range [from, to], at most ${maxBarsLimit}. ` +
            "Dates are ISO 8601 (YYYY-MM-DD or a date-time), 1970–2099; from after to is a 400."
        )
        .addSuccess(Schema.Array(Models.Bar))
    )
    .add(
      HttpApiEndpoint.get("quote", "/quote/:symbol")
        .setPath(SymbolParam)
        .annotate(
          OpenApi.Description,
          "The latest quote. While the provider's breaker is open or the provider fails, the symbol's last good " +
            "quote if it is young enough (STALE_QUOTE_MAX_AGE), with `stale: true`, `ageMillis` and the headers " +
            "`Quote-Stale: true` and `Age`."
        )
        .addSuccess(QuoteResponse)
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
  /** Submissions the broker refused as a duplicate client order id (its own, second line of defence). */
  duplicatesRejected: Schema.Number,
  calls: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/**
 * `GET /admin/marketdata/stats`: how much work the simulated data provider
 * has done (bars computed, `bars` calls).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MarketDataStats = Schema.Struct({
  barsGenerated: Schema.Number,
  barsCalls: Schema.Number
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
  .add(HttpApiEndpoint.get("marketDataStats", "/marketdata/stats").addSuccess(MarketDataStats))
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
 * `GET /metrics`: every metric of the process in the Prometheus text format,
 * rendered by the OpenTelemetry Prometheus exporter (`Observability`).
 *
 * @since 0.1.0
 * @category groups
 */
export class MetricsGroup extends HttpApiGroup.make("metrics", { topLevel: true })
  .add(
    HttpApiEndpoint.get("metrics", "/metrics").addSuccess(
      HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )
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
  .add(MetricsGroup)
  // The last declared runs first: the rate limit (keyed by IP for an unknown key), then the key check.
  .middleware(ApiKeys.Middleware)
  .middleware(RateLimit.Middleware)
  .annotate(OpenApi.Title, "effect-resilience trading gateway")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Orders and market data through per-provider circuit breakers, retries, bulkheads and timeouts, " +
      "behind a per-client rate limit and load shedding."
  )
{}
