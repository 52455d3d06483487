/**
 * The broker service: place, cancel and look up orders, list positions and
 * read the account, with the provider's resilience policy already applied.
 *
 * Reach for the `BrokerClient` Tag in code that trades; provide it with a
 * provider layer (`Alpaca.layer`, `InteractiveBrokers.layer`,
 * `Simulated.layerBroker`) or pick one by name through `BrokerClients`.
 * Every client places orders through `IdempotentOrders`: one client order id
 * per logical order, reused by every retry, and a lookup before any resend.
 *
 * @since 0.1.0
 */
import type {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  TimeoutError
} from "@effect-resilience/core/ResilienceError"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { OrderStatusUnknownError, ProviderError } from "./ClientError.js"
import type { Account, Order, OrderRequest, Position } from "./Models.js"
import type { ProviderPolicy } from "./ProviderPolicy.js"

/**
 * An order request whose client order id is fixed: what is sent on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export type OrderSubmission = OrderRequest & { readonly clientOrderId: string }

/**
 * A provider's raw API, without any policy: one HTTP call (or one simulated
 * call) per method. Provider modules implement it; `BrokerClient` services
 * wrap it. Implement it to add a broker.
 *
 * @since 0.1.0
 * @category models
 */
export interface BrokerApi {
  readonly provider: string
  readonly submitOrder: (order: OrderSubmission) => Effect.Effect<Order, ProviderError>
  readonly cancelOrder: (orderId: string) => Effect.Effect<void, ProviderError>
  readonly getOrder: (orderId: string) => Effect.Effect<Order, ProviderError>
  /** `None` when the broker has no order with this client order id. */
  readonly getOrderByClientOrderId: (clientOrderId: string) => Effect.Effect<Option.Option<Order>, ProviderError>
  readonly listOpenOrders: Effect.Effect<ReadonlyArray<Order>, ProviderError>
  readonly positions: Effect.Effect<ReadonlyArray<Position>, ProviderError>
  readonly account: Effect.Effect<Account, ProviderError>
}

/**
 * Everything a broker call can fail with: the provider's own errors, the
 * policies' rejections, and an order left in doubt.
 *
 * @since 0.1.0
 * @category errors
 */
export type BrokerError =
  | ProviderError
  | CircuitOpenError
  | BulkheadRejectedError
  | TimeoutError
  | RateLimitedError
  | OrderStatusUnknownError

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly provider: string
  /** The policy this client applies (read it, do not mutate it). */
  readonly policy: ProviderPolicy
  /**
   * Place an order, at most once: see `IdempotentOrders`. When the request
   * has no `clientOrderId` one is generated, and the order returned carries it.
   */
  readonly placeOrder: (request: OrderRequest) => Effect.Effect<Order, BrokerError>
  readonly cancelOrder: (orderId: string) => Effect.Effect<void, BrokerError>
  readonly getOrder: (orderId: string) => Effect.Effect<Order, BrokerError>
  readonly getOrderByClientOrderId: (clientOrderId: string) => Effect.Effect<Option.Option<Order>, BrokerError>
  readonly listOpenOrders: Effect.Effect<ReadonlyArray<Order>, BrokerError>
  readonly positions: Effect.Effect<ReadonlyArray<Position>, BrokerError>
  readonly account: Effect.Effect<Account, BrokerError>
}

/**
 * The broker client of this environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class BrokerClient extends Context.Tag("@effect-resilience/clients/BrokerClient")<BrokerClient, Service>() {}

/**
 * Provider names `BrokerClients` knows.
 *
 * @since 0.1.0
 * @category models
 */
export const brokerNames = ["alpaca", "interactive_brokers", "simulated"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type BrokerName = typeof brokerNames[number]
