/**
 * The common data model every broker and market-data client speaks: orders,
 * positions, accounts, bars and quotes, as Schemas.
 *
 * Reach for this module to name a type in a signature, to decode a value that
 * crossed a process boundary (the gateway's JSON), or to validate an order
 * request before it goes anywhere near a broker. Provider layers decode their
 * own wire shapes and map them into these.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Bar width. Each provider maps it onto its own parameters; a provider that
 * cannot serve one fails with `UnsupportedTimeframeError`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timeframe = Schema.Literal("1m", "5m", "15m", "1h", "1d")

/**
 * @since 0.1.0
 * @category models
 */
export type Timeframe = typeof Timeframe.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const OrderSide = Schema.Literal("buy", "sell")

/**
 * @since 0.1.0
 * @category models
 */
export type OrderSide = typeof OrderSide.Type

/**
 * The type of an order as the broker reports it (Alpaca and IB also have
 * stop, stop-limit and trailing-stop orders).
 *
 * @since 0.1.0
 * @category schemas
 */
export const OrderType = Schema.Literal("market", "limit", "stop", "stop_limit", "trailing_stop")

/**
 * @since 0.1.0
 * @category models
 */
export type OrderType = typeof OrderType.Type

/**
 * The order types this package can place (`OrderRequest.type`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestOrderType = Schema.Literal("market", "limit")

/**
 * @since 0.1.0
 * @category models
 */
export type RequestOrderType = typeof RequestOrderType.Type

/**
 * Time in force. Brokers accept subsets: Alpaca all six, IB `day`, `gtc`,
 * `opg`, `ioc` (a broker that cannot honour one rejects the order before it
 * is sent).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TimeInForce = Schema.Literal("day", "gtc", "ioc", "fok", "opg", "cls")

/**
 * @since 0.1.0
 * @category models
 */
export type TimeInForce = typeof TimeInForce.Type

/**
 * Lifecycle of an order at the broker, normalised across providers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OrderStatus = Schema.Literal(
  "pending",
  "accepted",
  "partially_filled",
  "filled",
  "canceled",
  "rejected",
  "expired"
)

/**
 * @since 0.1.0
 * @category models
 */
export type OrderStatus = typeof OrderStatus.Type

/**
 * Statuses in which an order can still fill (what `listOpenOrders` returns).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOpenStatus = (status: OrderStatus): boolean =>
  status === "pending" || status === "accepted" || status === "partially_filled"

const Positive = Schema.Number.pipe(Schema.finite(), Schema.positive())
const Symbol = Schema.Trim.pipe(Schema.nonEmptyString(), Schema.maxLength(32))

/**
 * What a caller asks a broker to do. `clientOrderId` is optional: when it is
 * absent the client generates one, once, and every retry reuses it (see
 * `IdempotentOrders`). A limit order needs a `limitPrice`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class OrderRequest extends Schema.Class<OrderRequest>("OrderRequest")(
  Schema.Struct({
    symbol: Symbol,
    side: OrderSide,
    qty: Positive,
    type: RequestOrderType,
    limitPrice: Schema.optional(Positive),
    timeInForce: Schema.optionalWith(TimeInForce, { default: () => "day" as const }),
    clientOrderId: Schema.optional(Schema.String.pipe(Schema.nonEmptyString(), Schema.maxLength(128)))
  }).pipe(
    Schema.filter((o) => o.type === "market" || o.limitPrice !== undefined || "a limit order needs a limitPrice")
  )
) {}

/**
 * An order as the broker knows it. `clientOrderId` is the idempotency key the
 * client sent with it.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Order extends Schema.Class<Order>("Order")({
  id: Schema.String,
  clientOrderId: Schema.String,
  symbol: Schema.String,
  side: OrderSide,
  qty: Schema.Number,
  type: OrderType,
  limitPrice: Schema.optional(Schema.Number),
  /** Stop (trigger) price of a stop or stop-limit order. */
  stopPrice: Schema.optional(Schema.Number),
  /** Trailing amount (price units) of a trailing-stop order. */
  trailPrice: Schema.optional(Schema.Number),
  /** Trailing percentage of a trailing-stop order. */
  trailPercent: Schema.optional(Schema.Number),
  timeInForce: TimeInForce,
  status: OrderStatus,
  /** The broker's own status word (`done_for_day`, `PreSubmitted`, …), when it differs from `status`. */
  brokerStatus: Schema.optional(Schema.String),
  filledQty: Schema.Number,
  filledAvgPrice: Schema.optional(Schema.Number),
  submittedAt: Schema.optional(Schema.Date)
}) {}

/**
 * An open position.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Position extends Schema.Class<Position>("Position")({
  symbol: Schema.String,
  qty: Schema.Number,
  side: Schema.Literal("long", "short"),
  avgEntryPrice: Schema.Number,
  marketValue: Schema.optional(Schema.Number),
  unrealizedPnl: Schema.optional(Schema.Number),
  currentPrice: Schema.optional(Schema.Number)
}) {}

/**
 * The trading account's balances.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Account extends Schema.Class<Account>("Account")({
  id: Schema.String,
  currency: Schema.String,
  cash: Schema.Number,
  buyingPower: Schema.Number,
  equity: Schema.Number,
  status: Schema.String
}) {}

/**
 * One OHLCV bar. An economic series observation (FRED) is a bar whose open,
 * high, low and close are the observed value and whose volume is 0.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Bar extends Schema.Class<Bar>("Bar")({
  symbol: Schema.String,
  timeframe: Timeframe,
  timestamp: Schema.Date,
  open: Schema.Number,
  high: Schema.Number,
  low: Schema.Number,
  close: Schema.Number,
  volume: Schema.Number
}) {}

/**
 * The latest quote for a symbol. `bid` and `ask` equal `price` where the
 * provider only publishes a last price or exchange rate.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Quote extends Schema.Class<Quote>("Quote")({
  symbol: Schema.String,
  bid: Schema.Number,
  ask: Schema.Number,
  price: Schema.Number,
  bidSize: Schema.optional(Schema.Number),
  askSize: Schema.optional(Schema.Number),
  timestamp: Schema.Date
}) {}

/**
 * Which bars to fetch: a time range, the latest `limit` bars, or both (the
 * latest `limit` inside the range). With neither, the provider's default
 * recent window.
 *
 * @since 0.1.0
 * @category models
 */
export interface BarsQuery {
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  /** Keep at most this many bars (the most recent). */
  readonly limit?: number | undefined
}
