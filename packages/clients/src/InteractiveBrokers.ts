/**
 * Interactive Brokers (Client Portal Web API, through the local Client
 * Portal Gateway) as a `BrokerClient`.
 *
 * The gateway (default `https://localhost:5000/v1/api`) holds the
 * authenticated session, so requests carry no key; a 401 means the session
 * is not authenticated (log in through the gateway) → `AuthenticationError`.
 *
 * - Orders: `POST /iserver/account/{accountId}/orders` with
 *   `{ orders: [{ conid, cOID, orderType, side, quantity, tif, price }] }`.
 *   IB may answer with questions (`[{ id, message: [...] }]`) that must be
 *   confirmed with `POST /iserver/reply/{replyId}` `{ confirmed: true }`
 *   before the order is live; this client confirms up to
 *   `maxConfirmations` of them (IB's precautionary warnings), then reads the
 *   `[{ order_id, order_status }]` answer. An `{ error }` answer is a
 *   rejection (or `InsufficientFundsError` when it names margin/funds).
 * - A symbol becomes a `conid` through `GET /iserver/secdef/search?symbol=…`
 *   (cached); no match → `UnknownSymbolError`.
 * - Lookups read `GET /iserver/account/orders` (the session's orders; the
 *   client order id is `order_ref`), cancels are
 *   `DELETE /iserver/account/{accountId}/order/{orderId}`, positions are
 *   `GET /portfolio/{accountId}/positions/0`, the account is
 *   `GET /portfolio/{accountId}/summary`.
 *
 * Policy: broker profiles plus IB's pacing: 10 requests per second through
 * the Client Portal Gateway (IBKR Campus, Web API "Pacing Limitations";
 * 429 beyond it), burst 5.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { BrokerApi, OrderSubmission } from "./BrokerClient.js"
import {
  InsufficientFundsError,
  OrderNotFoundError,
  OrderRejectedError,
  ProviderDecodeError,
  type ProviderError,
  ProviderUnavailableError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import { Account, Order, type OrderStatus, Position } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "interactive_brokers"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://localhost:5000/v1/api"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The IB account id (`U1234567`, `DU…` for paper). */
  readonly accountId: string
  /** @default "https://localhost:5000/v1/api" */
  readonly baseUrl?: string | undefined
  /**
   * How many confirmation questions to answer `confirmed: true` for one
   * order before giving up with `OrderRejectedError`.
   *
   * @default 5
   */
  readonly maxConfirmations?: number | undefined
  readonly policy?: ProviderPolicy.Overrides | undefined
}

/**
 * IB's default policy: broker profiles plus 10 requests/second.
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.broker(
  provider,
  ProviderPolicy.quota({
    quota: 10,
    interval: Duration.seconds(1),
    burst: 5,
    maxWait: Duration.seconds(10),
    source: "IBKR Client Portal Gateway pacing: 10 requests per second (IBKR Campus, Web API pacing limitations)"
  })
)

const NumberLike = Http.NumberLike

const PlacedOrConfirm = Schema.Union(
  Schema.Struct({ error: Schema.String }),
  Schema.Array(
    Schema.Union(
      Schema.Struct({
        order_id: Schema.Union(Schema.String, Schema.Number),
        order_status: Schema.optional(Schema.String)
      }),
      Schema.Struct({ id: Schema.String, message: Schema.Array(Schema.String) }),
      Schema.Struct({ error: Schema.String })
    )
  )
)

const IbOrder = Schema.Struct({
  orderId: Schema.Union(Schema.String, Schema.Number),
  order_ref: Schema.optional(Schema.String),
  ticker: Schema.optional(Schema.String),
  side: Schema.String,
  totalSize: Schema.optional(NumberLike),
  filledQuantity: Schema.optional(NumberLike),
  remainingQuantity: Schema.optional(NumberLike),
  price: Schema.optional(Schema.Union(NumberLike, Schema.Literal(""))),
  avgPrice: Schema.optional(NumberLike),
  orderType: Schema.String,
  timeInForce: Schema.optional(Schema.String),
  status: Schema.String,
  lastExecutionTime_r: Schema.optional(Schema.Number)
})
const Orders = Schema.Struct({ orders: Schema.optional(Schema.Array(IbOrder)) })

const IbPosition = Schema.Struct({
  ticker: Schema.optional(Schema.String),
  contractDesc: Schema.optional(Schema.String),
  position: NumberLike,
  avgCost: Schema.optional(NumberLike),
  avgPrice: Schema.optional(NumberLike),
  mktValue: Schema.optional(NumberLike),
  mktPrice: Schema.optional(NumberLike),
  unrealizedPnl: Schema.optional(NumberLike)
})

const Amount = Schema.Struct({ amount: NumberLike, currency: Schema.optional(Schema.NullOr(Schema.String)) })
const Summary = Schema.Struct({
  totalcashvalue: Amount,
  buyingpower: Amount,
  netliquidation: Amount
})

const SecdefSearch = Schema.Array(Schema.Struct({ conid: Schema.Union(Schema.String, Schema.Number) }))
const CancelReply = Schema.Union(
  Schema.Struct({ error: Schema.String }),
  Schema.Struct({
    msg: Schema.optional(Schema.String),
    order_id: Schema.optional(Schema.Union(Schema.String, Schema.Number))
  })
)
const ErrorBody = Schema.Struct({ error: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

const statusOf = (status: string): OrderStatus => {
  switch (status) {
    case "PendingSubmit":
    case "ApiPending":
      return "pending"
    case "Filled":
      return "filled"
    case "Cancelled":
    case "ApiCancelled":
    case "PendingCancel":
      return "canceled"
    case "Inactive":
      return "rejected"
    default:
      return "accepted"
  }
}

const toOrder = (o: typeof IbOrder.Type): Order => {
  const total = o.totalSize ?? (o.filledQuantity ?? 0) + (o.remainingQuantity ?? 0)
  const filled = o.filledQuantity ?? 0
  const tif = (o.timeInForce ?? "DAY").toLowerCase()
  const price = o.price === "" ? undefined : o.price
  return new Order({
    id: String(o.orderId),
    clientOrderId: o.order_ref ?? "",
    symbol: o.ticker ?? "",
    side: o.side.toUpperCase().startsWith("B") ? "buy" : "sell",
    qty: total,
    type: o.orderType.toUpperCase().startsWith("L") ? "limit" : "market",
    ...(price !== undefined ? { limitPrice: price } : {}),
    timeInForce: tif === "gtc" || tif === "ioc" || tif === "fok" ? tif : "day",
    status: o.status === "Submitted" && filled > 0 && filled < total ? "partially_filled" : statusOf(o.status),
    filledQty: filled,
    ...(o.avgPrice !== undefined ? { filledAvgPrice: o.avgPrice } : {}),
    ...(o.lastExecutionTime_r !== undefined ? { submittedAt: new Date(o.lastExecutionTime_r) } : {})
  })
}

const rejection = (message: string, clientOrderId?: string): ProviderError =>
  /insufficient|margin|buying power|equity with loan/i.test(message)
    ? new InsufficientFundsError({ provider, reason: message })
    : new OrderRejectedError({
      provider,
      reason: message,
      ...(clientOrderId !== undefined ? { clientOrderId } : {}),
      ...(/duplicate|already (been )?used|cOID/i.test(message) ? { duplicate: true } : {})
    })

const errorOf = (response: Http.RawResponse, clientOrderId?: string): Effect.Effect<never, ProviderError> => {
  const message = Option.match(decodeErrorBody(Http.parseLenient(response.text)), {
    onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
    onSome: (b) => b.error
  })
  const common = Http.commonStatusError(provider, response, message, Duration.seconds(1))
  if (common !== undefined) return common
  if (response.status === 400 || response.status === 403) return Effect.fail(rejection(message, clientOrderId))
  return Effect.fail(new ProviderUnavailableError({ provider, reason: message, status: response.status, sent: true }))
}

/**
 * The raw IB Client Portal API (no policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (options: Options): Effect.Effect<BrokerApi, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): BrokerApi => {
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const account = encodeURIComponent(options.accountId)
    const maxConfirmations = options.maxConfirmations ?? 5
    const conids = new Map<string, string>()
    const call = (request: HttpClientRequest.HttpClientRequest) =>
      Http.send(client, provider, request.pipe(HttpClientRequest.prependUrl(base), HttpClientRequest.acceptJson))
    const ok = (r: Http.RawResponse) => r.status >= 200 && r.status < 300

    const decodePlaced = Http.decodeJson(PlacedOrConfirm, provider, "placeOrder")
    const decodeOrders = Http.decodeJson(Orders, provider, "orders")
    const decodePositions = Http.decodeJson(Schema.Array(IbPosition), provider, "positions")
    const decodeSummary = Http.decodeJson(Summary, provider, "account")
    const decodeSearch = Http.decodeJson(SecdefSearch, provider, "secdef")
    const decodeCancel = Http.decodeJson(CancelReply, provider, "cancelOrder")

    const conidOf = (symbol: string): Effect.Effect<string, ProviderError> => {
      const cached = conids.get(symbol)
      if (cached !== undefined) return Effect.succeed(cached)
      return Effect.gen(function*() {
        const r = yield* call(
          HttpClientRequest.get("/iserver/secdef/search").pipe(
            HttpClientRequest.setUrlParams({ symbol, secType: "STK" })
          )
        )
        // An unknown symbol is an empty list, or a 400/500 with { error }, depending on the gateway version.
        if (!ok(r) && r.status !== 400 && r.status !== 500) return yield* errorOf(r)
        const found = ok(r) ? yield* decodeSearch(r.text) : []
        const first = found[0]
        if (first === undefined) return yield* new UnknownSymbolError({ provider, symbol })
        const conid = String(first.conid)
        conids.set(symbol, conid)
        return conid
      })
    }

    // Answer IB's precautionary questions until the order is placed (or rejected).
    const settle = (
      order: OrderSubmission,
      r: Http.RawResponse,
      confirmations: number
    ): Effect.Effect<string, ProviderError> =>
      Effect.gen(function*() {
        if (!ok(r)) return yield* errorOf(r, order.clientOrderId)
        const body = yield* decodePlaced(r.text)
        if (!Array.isArray(body)) {
          return yield* Effect.fail(rejection((body as { error: string }).error, order.clientOrderId))
        }
        const first = body[0]
        if (first === undefined) {
          return yield* new ProviderDecodeError({ provider, operation: "placeOrder", issue: "empty reply" })
        }
        if ("order_id" in first) return String(first.order_id)
        if ("error" in first) return yield* Effect.fail(rejection(first.error, order.clientOrderId))
        if (confirmations >= maxConfirmations) {
          return yield* new OrderRejectedError({
            provider,
            reason: `unconfirmed after ${maxConfirmations} questions: ${first.message.join(" ")}`,
            clientOrderId: order.clientOrderId
          })
        }
        const next = yield* call(
          HttpClientRequest.post(`/iserver/reply/${encodeURIComponent(first.id)}`).pipe(
            HttpClientRequest.bodyUnsafeJson({ confirmed: true })
          )
        )
        return yield* settle(order, next, confirmations + 1)
      })

    const listOrders = Effect.flatMap(
      call(HttpClientRequest.get("/iserver/account/orders")),
      (r) => ok(r) ? Effect.map(decodeOrders(r.text), (b) => (b.orders ?? []).map(toOrder)) : errorOf(r)
    )

    const findOrder = (predicate: (o: Order) => boolean) =>
      Effect.map(listOrders, (orders) => Option.fromNullable(orders.find(predicate)))

    return {
      provider,
      submitOrder: (order) =>
        Effect.gen(function*() {
          const conid = yield* conidOf(order.symbol)
          const r = yield* call(
            HttpClientRequest.post(`/iserver/account/${account}/orders`).pipe(
              HttpClientRequest.bodyUnsafeJson({
                orders: [{
                  acctId: options.accountId,
                  conid: Number(conid),
                  cOID: order.clientOrderId,
                  orderType: order.type === "limit" ? "LMT" : "MKT",
                  side: order.side === "buy" ? "BUY" : "SELL",
                  quantity: order.qty,
                  tif: order.timeInForce.toUpperCase(),
                  ...(order.limitPrice !== undefined ? { price: order.limitPrice } : {})
                }]
              })
            )
          )
          const orderId = yield* settle(order, r, 0)
          const found = yield* findOrder((o) => o.id === orderId)
          // The orders list can lag the reply: report what was sent, as accepted.
          return Option.getOrElse(found, () =>
            new Order({
              id: orderId,
              clientOrderId: order.clientOrderId,
              symbol: order.symbol,
              side: order.side,
              qty: order.qty,
              type: order.type,
              ...(order.limitPrice !== undefined ? { limitPrice: order.limitPrice } : {}),
              timeInForce: order.timeInForce,
              status: "accepted",
              filledQty: 0
            }))
        }),
      cancelOrder: (orderId) =>
        Effect.gen(function*() {
          const r = yield* call(
            HttpClientRequest.del(`/iserver/account/${account}/order/${encodeURIComponent(orderId)}`)
          )
          if (r.status === 404) return yield* new OrderNotFoundError({ provider, orderId })
          if (!ok(r)) return yield* errorOf(r)
          const body = yield* decodeCancel(r.text)
          if ("error" in body) {
            return yield* /not found|doesn't exist|does not exist/i.test(body.error)
              ? Effect.fail(new OrderNotFoundError({ provider, orderId }))
              : Effect.fail(new OrderRejectedError({ provider, reason: body.error }))
          }
        }),
      getOrder: (orderId) =>
        Effect.flatMap(findOrder((o) => o.id === orderId), (found) =>
          Option.isSome(found)
            ? Effect.succeed(found.value)
            : Effect.fail(new OrderNotFoundError({ provider, orderId }))),
      getOrderByClientOrderId: (clientOrderId) => findOrder((o) => o.clientOrderId === clientOrderId),
      listOpenOrders: Effect.map(
        listOrders,
        (orders) =>
          orders.filter((o) => o.status === "pending" || o.status === "accepted" || o.status === "partially_filled")
      ),
      positions: Effect.flatMap(
        call(HttpClientRequest.get(`/portfolio/${account}/positions/0`)),
        (r) =>
          ok(r)
            ? Effect.map(decodePositions(r.text), (ps) =>
              ps.filter((p) => p.position !== 0).map((p) =>
                new Position({
                  symbol: p.ticker ?? p.contractDesc ?? "",
                  qty: p.position,
                  side: p.position < 0 ? "short" : "long",
                  avgEntryPrice: p.avgPrice ?? p.avgCost ?? 0,
                  ...(p.mktValue !== undefined ? { marketValue: p.mktValue } : {}),
                  ...(p.unrealizedPnl !== undefined ? { unrealizedPnl: p.unrealizedPnl } : {}),
                  ...(p.mktPrice !== undefined ? { currentPrice: p.mktPrice } : {})
                })
              ))
            : errorOf(r)
      ),
      account: Effect.flatMap(
        call(HttpClientRequest.get(`/portfolio/${account}/summary`)),
        (r) =>
          ok(r)
            ? Effect.map(decodeSummary(r.text), (s) =>
              new Account({
                id: options.accountId,
                currency: s.netliquidation.currency ?? "USD",
                cash: s.totalcashvalue.amount,
                buyingPower: s.buyingpower.amount,
                equity: s.netliquidation.amount,
                status: "ACTIVE"
              }))
            : errorOf(r)
      )
    }
  })

/**
 * The IB `BrokerClient`. Point `baseUrl` at the gateway; a gateway with a
 * self-signed certificate needs an `HttpClient` that trusts it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = ProviderLayer.broker(makeApi, policy)

/**
 * `IB_ACCOUNT_ID` and `IB_GATEWAY_URL` (optional).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  accountId: Config.string("IB_ACCOUNT_ID"),
  baseUrl: ProviderLayer.optionalString("IB_GATEWAY_URL")
})

/**
 * The IB `BrokerClient` from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)
