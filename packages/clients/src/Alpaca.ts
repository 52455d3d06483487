/**
 * Alpaca (Trading API v2 over REST) as a `BrokerClient`.
 *
 * Reach for `Alpaca.layer` / `Alpaca.layerConfig` to trade through Alpaca's
 * paper or live environment. Authenticates with the `APCA-API-KEY-ID` and
 * `APCA-API-SECRET-KEY` headers (kept `Redacted`); places orders with a
 * `client_order_id` and resolves doubt with
 * `GET /v2/orders:by_client_order_id`. Error bodies `{ code, message }` map to
 * typed errors: 401 → `AuthenticationError`; 403 "insufficient buying power" →
 * `InsufficientFundsError`; any other 403 with an order-rule code (`403xxxxx`:
 * pattern-day-trading protection, wash-trade prevention, opg/cls windows,
 * fractional trading disabled, insufficient qty) → `OrderRejectedError`
 * carrying Alpaca's `code` and message; a 403 without a code (a key that may
 * not trade) → `AuthenticationError`; 422 → `OrderRejectedError` (or
 * `UnknownSymbolError`); 429 → `ProviderRateLimitedError`; 5xx →
 * `ProviderUnavailableError`.
 *
 * Orders decode faithfully: `market`, `limit`, `stop`, `stop_limit`,
 * `trailing_stop` with their stop and trail prices, every time in force, and
 * every status (`done_for_day`, `pending_cancel`, `held`, … are open orders,
 * kept in `brokerStatus`).
 *
 * Policy: `broker_api` for reads, `order_execution` for orders, and Alpaca's
 * documented 200 requests per minute per account
 * (https://docs.alpaca.markets/docs/trading-api → "rate limit") as a wait-mode
 * token bucket.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { BrokerApi, OrderSubmission } from "./BrokerClient.js"
import {
  AuthenticationError,
  InsufficientFundsError,
  OrderNotFoundError,
  OrderRejectedError,
  ProviderBadRequestError,
  type ProviderError,
  ProviderRateLimitedError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import { Account, Order, type OrderStatus, type OrderType, Position, type TimeInForce } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "alpaca"

/**
 * Paper trading base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const paperBaseUrl = "https://paper-api.alpaca.markets"

/**
 * Live trading base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const liveBaseUrl = "https://api.alpaca.markets"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly keyId: Redacted.Redacted<string>
  readonly secretKey: Redacted.Redacted<string>
  /** @default true (paper trading) */
  readonly paper?: boolean | undefined
  /** Overrides `paper`; tests point it at loopback. */
  readonly baseUrl?: string | undefined
  readonly policy?: ProviderPolicy.Overrides | undefined
}

/**
 * Alpaca's default policy: broker profiles plus 200 requests/minute.
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.broker(
  provider,
  ProviderPolicy.quota({
    quota: 200,
    interval: Duration.minutes(1),
    burst: 20,
    maxWait: Duration.seconds(30),
    source: "Alpaca Trading API: 200 requests per minute per account (docs.alpaca.markets, API rate limit)"
  })
)

const AlpacaOrder = Schema.Struct({
  id: Schema.String,
  client_order_id: Schema.String,
  symbol: Schema.String,
  side: Schema.Literal("buy", "sell"),
  type: Schema.optional(Schema.String),
  order_type: Schema.optional(Schema.String),
  qty: Schema.NullOr(Http.NumberLike),
  filled_qty: Http.NumberLike,
  filled_avg_price: Schema.NullOr(Http.NumberLike),
  limit_price: Schema.NullOr(Http.NumberLike),
  stop_price: Schema.optional(Schema.NullOr(Http.NumberLike)),
  trail_price: Schema.optional(Schema.NullOr(Http.NumberLike)),
  trail_percent: Schema.optional(Schema.NullOr(Http.NumberLike)),
  time_in_force: Schema.String,
  status: Schema.String,
  submitted_at: Schema.NullOr(Schema.String)
})

const AlpacaPosition = Schema.Struct({
  symbol: Schema.String,
  qty: Http.NumberLike,
  side: Schema.Literal("long", "short"),
  avg_entry_price: Http.NumberLike,
  market_value: Schema.optional(Schema.NullOr(Http.NumberLike)),
  unrealized_pl: Schema.optional(Schema.NullOr(Http.NumberLike)),
  current_price: Schema.optional(Schema.NullOr(Http.NumberLike))
})

const AlpacaAccount = Schema.Struct({
  id: Schema.String,
  currency: Schema.String,
  cash: Http.NumberLike,
  buying_power: Http.NumberLike,
  equity: Http.NumberLike,
  status: Schema.String
})

const AlpacaErrorBody = Schema.Struct({ code: Schema.optional(Schema.Number), message: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(AlpacaErrorBody)

/**
 * Alpaca's order statuses (docs.alpaca.markets/docs/orders-at-alpaca, "Order
 * Lifecycle") onto the common ones. `done_for_day` is an order that will not
 * trade again today but stays working (a GTC order trades tomorrow), so it is
 * open, not expired; so are `pending_cancel` / `pending_replace` (still live
 * until Alpaca confirms), `stopped` and `calculated`.
 */
const statusOf = (status: string): OrderStatus => {
  switch (status) {
    case "pending_new":
    case "accepted_for_bidding":
    case "held":
      return "pending"
    case "partially_filled":
      return "partially_filled"
    case "filled":
      return "filled"
    case "canceled":
    case "replaced":
      return "canceled"
    case "expired":
      return "expired"
    case "rejected":
    case "suspended":
      return "rejected"
    default:
      // new, accepted, done_for_day, pending_cancel, pending_replace, stopped, calculated
      return "accepted"
  }
}

const typeOf = (type: string | undefined): OrderType => {
  switch (type) {
    case "limit":
    case "stop":
    case "stop_limit":
    case "trailing_stop":
      return type
    default:
      return "market"
  }
}

const tifOf = (tif: string): TimeInForce => {
  switch (tif) {
    case "gtc":
    case "ioc":
    case "fok":
    case "opg":
    case "cls":
      return tif
    default:
      return "day"
  }
}

const optional = (n: number | null | undefined): number | undefined => n ?? undefined

const toOrder = (o: typeof AlpacaOrder.Type): Order => {
  const status = statusOf(o.status)
  return new Order({
    id: o.id,
    clientOrderId: o.client_order_id,
    symbol: o.symbol,
    side: o.side,
    qty: o.qty ?? 0,
    type: typeOf(o.type ?? o.order_type),
    limitPrice: optional(o.limit_price),
    stopPrice: optional(o.stop_price),
    trailPrice: optional(o.trail_price),
    trailPercent: optional(o.trail_percent),
    timeInForce: tifOf(o.time_in_force),
    status,
    ...(o.status !== status ? { brokerStatus: o.status } : {}),
    filledQty: o.filled_qty,
    filledAvgPrice: optional(o.filled_avg_price),
    submittedAt: o.submitted_at === null ? undefined : new Date(o.submitted_at)
  })
}

const toPosition = (p: typeof AlpacaPosition.Type): Position =>
  new Position({
    symbol: p.symbol,
    side: p.side,
    qty: p.side === "short" ? -Math.abs(p.qty) : Math.abs(p.qty),
    avgEntryPrice: p.avg_entry_price,
    marketValue: optional(p.market_value),
    unrealizedPnl: optional(p.unrealized_pl),
    currentPrice: optional(p.current_price)
  })

const toAccount = (a: typeof AlpacaAccount.Type): Account =>
  new Account({
    id: a.id,
    currency: a.currency,
    cash: a.cash,
    buyingPower: a.buying_power,
    equity: a.equity,
    status: a.status
  })

const decodeOrder = Http.decodeJson(AlpacaOrder, provider, "order")
const decodeOrders = Http.decodeJson(Schema.Array(AlpacaOrder), provider, "orders")
const decodePositions = Http.decodeJson(Schema.Array(AlpacaPosition), provider, "positions")
const decodeAccount = Http.decodeJson(AlpacaAccount, provider, "account")

/**
 * Map a non-2xx Alpaca response to its typed error.
 *
 * @internal
 */
const errorOf = (
  response: Http.RawResponse,
  context: { readonly symbol?: string; readonly orderId?: string; readonly clientOrderId?: string }
): Effect.Effect<never, ProviderError> =>
  Effect.suspend((): Effect.Effect<never, ProviderError> => {
    const body = decodeErrorBody(Http.parseLenient(response.text))
    const code = Option.match(body, { onNone: () => undefined, onSome: (b) => b.code })
    const message = Option.match(body, {
      onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
      onSome: (b) => b.message
    })
    // X-RateLimit-Reset is a unix time in seconds: a better default than a guess.
    const reset = Number(response.headers["x-ratelimit-reset"])
    if (
      response.status === 429 && response.headers["retry-after"] === undefined && Number.isFinite(reset) && reset > 0
    ) {
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.fail(
          new ProviderRateLimitedError({
            provider,
            reason: message,
            retryAfter: Duration.millis(Math.max(0, reset * 1000 - now))
          })
        ))
    }
    const common = Http.commonStatusError(provider, response, message, Duration.seconds(60))
    if (common !== undefined) return common
    const lower = message.toLowerCase()
    switch (response.status) {
      case 403:
        if (lower.includes("buying power")) {
          return Effect.fail(new InsufficientFundsError({ provider, reason: message }))
        }
        // 403xxxxx codes are Alpaca's order-rule refusals; a bare 403 is a key that may not do this.
        if (code !== undefined && code >= 40300000 && code < 40400000) {
          return Effect.fail(
            new OrderRejectedError({
              provider,
              reason: message,
              code,
              ...(context.clientOrderId !== undefined ? { clientOrderId: context.clientOrderId } : {})
            })
          )
        }
        return Effect.fail(new AuthenticationError({ provider, reason: message }))
      case 404:
        if (context.orderId !== undefined) {
          return Effect.fail(new OrderNotFoundError({ provider, orderId: context.orderId }))
        }
        if (context.symbol !== undefined) {
          return Effect.fail(new UnknownSymbolError({ provider, symbol: context.symbol }))
        }
        break
      case 422:
        if (context.symbol !== undefined && lower.includes("asset") && lower.includes("not found")) {
          return Effect.fail(new UnknownSymbolError({ provider, symbol: context.symbol }))
        }
        if (lower.includes("insufficient") || lower.includes("buying power")) {
          return Effect.fail(new InsufficientFundsError({ provider, reason: message }))
        }
        return Effect.fail(
          new OrderRejectedError({
            provider,
            reason: message,
            ...(code !== undefined ? { code } : {}),
            ...(context.clientOrderId !== undefined ? { clientOrderId: context.clientOrderId } : {}),
            ...(lower.includes("client_order_id") && lower.includes("unique") ? { duplicate: true } : {})
          })
        )
    }
    // A bad parameter on a read is not an order rejection (nor an outage).
    if (response.status === 400 && context.clientOrderId === undefined) {
      return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason: message }))
    }
    return Effect.fail(
      new OrderRejectedError({
        provider,
        reason: `unexpected HTTP ${response.status}: ${message}`,
        ...(code !== undefined ? { code } : {})
      })
    )
  })

const orderBody = (order: OrderSubmission) => ({
  symbol: order.symbol,
  qty: String(order.qty),
  side: order.side,
  type: order.type,
  time_in_force: order.timeInForce,
  ...(order.limitPrice !== undefined ? { limit_price: String(order.limitPrice) } : {}),
  client_order_id: order.clientOrderId
})

/**
 * The raw Alpaca API (no policy): one HTTP call per method.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (options: Options): Effect.Effect<BrokerApi, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): BrokerApi => {
    const base = Http.trimBase(options.baseUrl ?? (options.paper === false ? liveBaseUrl : paperBaseUrl))
    const authed = (request: HttpClientRequest.HttpClientRequest) =>
      request.pipe(
        HttpClientRequest.prependUrl(base),
        HttpClientRequest.setHeader("APCA-API-KEY-ID", Redacted.value(options.keyId)),
        HttpClientRequest.setHeader("APCA-API-SECRET-KEY", Redacted.value(options.secretKey)),
        HttpClientRequest.acceptJson
      )
    const call = (request: HttpClientRequest.HttpClientRequest) => Http.send(client, provider, authed(request))
    const ok = (response: Http.RawResponse) => response.status >= 200 && response.status < 300

    return {
      provider,
      submitOrder: (order) =>
        Effect.flatMap(
          call(HttpClientRequest.post("/v2/orders").pipe(HttpClientRequest.bodyUnsafeJson(orderBody(order)))),
          (r) =>
            ok(r)
              ? Effect.map(decodeOrder(r.text), toOrder)
              : errorOf(r, { symbol: order.symbol, clientOrderId: order.clientOrderId })
        ),
      cancelOrder: (orderId) =>
        Effect.flatMap(
          call(HttpClientRequest.del(`/v2/orders/${encodeURIComponent(orderId)}`)),
          (r) => ok(r) ? Effect.void : errorOf(r, { orderId })
        ),
      getOrder: (orderId) =>
        Effect.flatMap(
          call(HttpClientRequest.get(`/v2/orders/${encodeURIComponent(orderId)}`)),
          (r) => ok(r) ? Effect.map(decodeOrder(r.text), toOrder) : errorOf(r, { orderId })
        ),
      getOrderByClientOrderId: (clientOrderId) =>
        Effect.flatMap(
          call(
            HttpClientRequest.get("/v2/orders:by_client_order_id").pipe(
              HttpClientRequest.setUrlParam("client_order_id", clientOrderId)
            )
          ),
          (r) =>
            ok(r)
              ? Effect.map(decodeOrder(r.text), (o) => Option.some(toOrder(o)))
              : r.status === 404
              ? Effect.succeed(Option.none())
              : errorOf(r, {})
        ),
      listOpenOrders: Effect.flatMap(
        call(
          HttpClientRequest.get("/v2/orders").pipe(
            HttpClientRequest.setUrlParams({ status: "open", limit: "500" })
          )
        ),
        (r) => ok(r) ? Effect.map(decodeOrders(r.text), (os) => os.map(toOrder)) : errorOf(r, {})
      ),
      positions: Effect.flatMap(
        call(HttpClientRequest.get("/v2/positions")),
        (r) => ok(r) ? Effect.map(decodePositions(r.text), (ps) => ps.map(toPosition)) : errorOf(r, {})
      ),
      account: Effect.flatMap(
        call(HttpClientRequest.get("/v2/account")),
        (r) => ok(r) ? Effect.map(decodeAccount(r.text), toAccount) : errorOf(r, {})
      )
    }
  })

/**
 * The Alpaca `BrokerClient`, with its policy (defaults overridden by
 * `options.policy`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = ProviderLayer.broker(makeApi, policy)

/**
 * Options read from configuration: `ALPACA_API_KEY_ID`,
 * `ALPACA_API_SECRET_KEY` (redacted), `ALPACA_PAPER` (default true) and
 * `ALPACA_BASE_URL` (optional).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  keyId: Config.redacted("ALPACA_API_KEY_ID"),
  secretKey: Config.redacted("ALPACA_API_SECRET_KEY"),
  paper: Config.withDefault(Config.boolean("ALPACA_PAPER"), true),
  baseUrl: ProviderLayer.optionalString("ALPACA_BASE_URL")
})

/**
 * The Alpaca `BrokerClient` from configuration (see `config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)
