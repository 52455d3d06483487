/**
 * The gateway's HTTP errors, and the one mapping from what a broker or
 * market-data call can fail with to them:
 *
 * | client / policy error | status |
 * |---|---|
 * | `CircuitOpenError` | 503 `CircuitOpen` + `Retry-After` |
 * | `BulkheadRejectedError` | 503 `ProviderBusy` + `Retry-After: 1` |
 * | `RateLimitedError`, `ProviderRateLimitedError` | 429 `UpstreamRateLimited` + `Retry-After` |
 * | `TimeoutError` | 504 `UpstreamTimeout` |
 * | `OrderStatusUnknownError` | 504 `OrderStatusUnknown` (look the order up by its client order id) |
 * | `OrderRejectedError`, `InsufficientFundsError` | 422 `OrderRejected` |
 * | `UnknownSymbolError`, `OrderNotFoundError` | 404 `NotFound` |
 * | `UnsupportedTimeframeError` | 400 `BadRequest` |
 * | `ProviderUnavailableError`, `AuthenticationError`, `ProviderDecodeError` | 502 `BadGateway` |
 *
 * and the gateway's own: 409 `ClientOrderIdConflict` (a client order id
 * reused for a different order), 401 `Unauthorized` (an API key that is not
 * configured).
 *
 * @since 0.1.0
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * 503: the provider's circuit breaker is open; retry after `retryAfter` seconds.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  breaker: Schema.String,
  state: Schema.String,
  retryAfter: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503, description: "A provider's circuit breaker is open" })) {}

/**
 * 503: the provider's bulkhead is full.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderBusy extends Schema.TaggedError<ProviderBusy>()("ProviderBusy", {
  bulkhead: Schema.String,
  reason: Schema.String,
  retryAfter: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503, description: "Too many calls to the provider in flight" })) {}

/**
 * 429: the provider (or its quota, enforced here) throttled the call.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamRateLimited extends Schema.TaggedError<UpstreamRateLimited>()("UpstreamRateLimited", {
  provider: Schema.String,
  retryAfter: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 429, description: "The provider's quota is exhausted" })) {}

/**
 * 504: the provider did not answer in time.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamTimeout extends Schema.TaggedError<UpstreamTimeout>()("UpstreamTimeout", {
  operation: Schema.String,
  timeoutMillis: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 504, description: "The provider did not answer in time" })) {}

/**
 * 504: an order placement ended in doubt. It was NOT placed again; look it up
 * with `GET /orders/by-client-id/{clientOrderId}`.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderStatusUnknown extends Schema.TaggedError<OrderStatusUnknown>()("OrderStatusUnknown", {
  clientOrderId: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 504, description: "The order may or may not be placed: look it up" })) {}

/**
 * 422: the broker refused the order.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderRejected extends Schema.TaggedError<OrderRejected>()("OrderRejected", {
  reason: Schema.String,
  clientOrderId: Schema.optional(Schema.String),
  message: Schema.String
}, HttpApiSchema.annotations({ status: 422, description: "The broker rejected the order" })) {}

/**
 * 404: no such order or symbol.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  resource: Schema.String,
  id: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 404 })) {}

/**
 * 400: a request the provider cannot serve (e.g. an unsupported timeframe).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 400 })) {}

/**
 * 502: the provider failed (after the retries), refused our credentials or
 * answered nonsense.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadGateway extends Schema.TaggedError<BadGateway>()("BadGateway", {
  provider: Schema.String,
  reason: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 502, description: "The provider failed" })) {}

/**
 * 409: the admin operation needs a simulated provider.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotSimulated extends Schema.TaggedError<NotSimulated>()("NotSimulated", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 409 })) {}

/**
 * 409: the client order id was already used for a different order. Nothing
 * was placed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientOrderIdConflict extends Schema.TaggedError<ClientOrderIdConflict>()("ClientOrderIdConflict", {
  clientOrderId: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 409, description: "The clientOrderId was used for a different order" })) {}

/**
 * 401: the request's API key is not one of the gateway's configured keys.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 401, description: "Unknown API key" })) {}

/**
 * Every error a provider-backed endpoint can answer with.
 *
 * @since 0.1.0
 * @category errors
 */
export const providerErrors = [
  CircuitOpen,
  ProviderBusy,
  UpstreamRateLimited,
  UpstreamTimeout,
  NotFound,
  BadRequest,
  BadGateway
] as const

/**
 * @since 0.1.0
 * @category errors
 */
export type ProviderHttpError =
  | CircuitOpen
  | ProviderBusy
  | UpstreamRateLimited
  | UpstreamTimeout
  | NotFound
  | BadRequest
  | BadGateway

/**
 * @since 0.1.0
 * @category errors
 */
export type OrderHttpError = ProviderHttpError | OrderRejected | OrderStatusUnknown

const seconds = (d: Duration.DurationInput): number =>
  Math.max(1, Math.ceil(Duration.toMillis(Duration.decode(d)) / 1000))

const withRetryAfter = <E>(secs: number, error: E): Effect.Effect<never, E> =>
  Effect.zipRight(
    HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(secs)))
    ),
    Effect.fail(error)
  )

const field = (error: object, key: string): unknown => (error as Record<string, unknown>)[key]

const str = (error: object, key: string, fallback = ""): string => {
  const v = field(error, key)
  return typeof v === "string" ? v : fallback
}

const messageOf = (error: object): string => {
  const m = field(error, "message")
  return typeof m === "string" && m.length > 0 ? m : String(field(error, "_tag"))
}

/**
 * The HTTP error for a client or policy error, with the `Retry-After`
 * (seconds) to send beside it, if any. Unknown errors become a 502.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toHttpError = (error: unknown): { readonly error: OrderHttpError; readonly retryAfter?: number } => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) {
    return { error: new BadGateway({ provider: "unknown", reason: String(error), message: String(error) }) }
  }
  const message = messageOf(error)
  switch (error._tag) {
    case "CircuitOpenError": {
      const retryAfter = seconds(field(error, "retryAfter") as Duration.Duration)
      return {
        error: new CircuitOpen({ breaker: str(error, "breaker"), state: str(error, "state"), retryAfter, message }),
        retryAfter
      }
    }
    case "BulkheadRejectedError":
      return {
        error: new ProviderBusy({
          bulkhead: str(error, "bulkhead"),
          reason: str(error, "reason"),
          retryAfter: 1,
          message
        }),
        retryAfter: 1
      }
    case "RateLimitedError":
    case "ProviderRateLimitedError": {
      const retryAfter = seconds(field(error, "retryAfter") as Duration.Duration)
      return {
        error: new UpstreamRateLimited({ provider: str(error, "provider", str(error, "key")), retryAfter, message }),
        retryAfter
      }
    }
    case "TimeoutError":
      return {
        error: new UpstreamTimeout({
          operation: str(error, "operation", "provider call"),
          timeoutMillis: Duration.toMillis(field(error, "duration") as Duration.Duration),
          message
        })
      }
    case "OrderStatusUnknownError":
      return { error: new OrderStatusUnknown({ clientOrderId: str(error, "clientOrderId"), message }) }
    case "OrderRejectedError":
    case "InsufficientFundsError": {
      const clientOrderId = field(error, "clientOrderId")
      return {
        error: new OrderRejected({
          reason: str(error, "reason", message),
          ...(typeof clientOrderId === "string" ? { clientOrderId } : {}),
          message
        })
      }
    }
    case "UnknownSymbolError":
      return { error: new NotFound({ resource: "symbol", id: str(error, "symbol"), message }) }
    case "OrderNotFoundError":
      return { error: new NotFound({ resource: "order", id: str(error, "orderId"), message }) }
    case "UnsupportedTimeframeError":
      return { error: new BadRequest({ message }) }
    default:
      return {
        error: new BadGateway({ provider: str(error, "provider", "unknown"), reason: String(error._tag), message })
      }
  }
}

const fail = <E>(mapped: { readonly error: E; readonly retryAfter?: number }): Effect.Effect<never, E> =>
  mapped.retryAfter === undefined ? Effect.fail(mapped.error) : withRetryAfter(mapped.retryAfter, mapped.error)

const narrow = (mapped: ReturnType<typeof toHttpError>): { error: ProviderHttpError; retryAfter?: number } => {
  const e = mapped.error
  if (e._tag === "OrderRejected" || e._tag === "OrderStatusUnknown") {
    return { error: new BadGateway({ provider: "broker", reason: e._tag, message: e.message }) }
  }
  return mapped as { error: ProviderHttpError; retryAfter?: number }
}

/**
 * Fail with the HTTP error of a read (quotes, bars, orders, positions).
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromClientError = (error: unknown): Effect.Effect<never, ProviderHttpError> =>
  fail(narrow(toHttpError(error)))

/**
 * Fail with the HTTP error of a cancel (a filled order cannot be cancelled: 422).
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromCancelError = (error: unknown): Effect.Effect<never, ProviderHttpError | OrderRejected> => {
  const mapped = toHttpError(error)
  return mapped.error._tag === "OrderRejected" ? fail(mapped as { error: OrderRejected }) : fail(narrow(mapped))
}

/**
 * Fail with the HTTP error of an order placement; an unknown symbol is a
 * 422 (the order is what is wrong).
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromOrderError = (error: unknown): Effect.Effect<never, OrderHttpError> =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "UnknownSymbolError"
    ? Effect.fail(new OrderRejected({ reason: messageOf(error), message: messageOf(error) }))
    : fail(toHttpError(error))
