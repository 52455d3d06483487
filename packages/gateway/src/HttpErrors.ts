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
 * | `UnsupportedTimeframeError`, `ProviderBadRequestError` | 400 `BadRequest` |
 * | `ProviderEntitlementError` | 502 `BadGateway` (reason names the plan and what it needs) |
 * | `SessionExpiredError` | 502 `BadGateway` (the broker session needs a login) |
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
 * 503: the provider's circuit breaker is open; retry after `retryAfter`
 * (exact milliseconds in the body, like every time in a body here; the
 * `Retry-After` header rounds up to whole seconds). A breaker isolated by an
 * operator has no time to retry after: `retryAfter` and the header are then
 * absent (never `null` or `Infinity` on the wire).
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  breaker: Schema.String,
  state: Schema.String,
  retryAfter: Schema.optional(Schema.DurationFromMillis),
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
  retryAfter: Schema.DurationFromMillis,
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
  retryAfter: Schema.DurationFromMillis,
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
      const retryAfter = field(error, "retryAfter") as Duration.Duration
      const breaker = str(error, "breaker")
      const state = str(error, "state")
      // Isolated: no time at which retrying helps, so no time is sent
      return Duration.isFinite(retryAfter)
        ? { error: new CircuitOpen({ breaker, state, retryAfter, message }), retryAfter: seconds(retryAfter) }
        : { error: new CircuitOpen({ breaker, state, message }) }
    }
    case "BulkheadRejectedError":
      return {
        error: new ProviderBusy({
          bulkhead: str(error, "bulkhead"),
          reason: str(error, "reason"),
          retryAfter: Duration.seconds(1),
          message
        }),
        retryAfter: 1
      }
    case "RateLimitedError":
    case "ProviderRateLimitedError": {
      const retryAfter = field(error, "retryAfter") as Duration.Duration
      return {
        error: new UpstreamRateLimited({ provider: str(error, "provider", str(error, "key")), retryAfter, message }),
        retryAfter: seconds(retryAfter)
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
    case "ProviderBadRequestError":
      return { error: new BadRequest({ message }) }
    case "ProviderEntitlementError":
      return {
        error: new BadGateway({
          provider: str(error, "provider", "unknown"),
          reason: `not entitled on plan "${str(error, "plan")}": needs ${str(error, "requires")}`,
          message
        })
      }
    case "SessionExpiredError":
      return {
        error: new BadGateway({ provider: str(error, "provider", "unknown"), reason: "session expired", message })
      }
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

// Transport errors: answered by the server itself (HttpTransport.ts, Telemetry.ts, Dashboard.ts) before or
// around the API, in the same JSON shape (`_tag`, `message`, fields) as every error above.

/**
 * 400: the body is not well-formed JSON, or nests deeper than the limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBody extends Schema.TaggedError<InvalidBody>()("InvalidBody", {
  reason: Schema.Literal("invalid-json", "too-deep"),
  message: Schema.String
}, HttpApiSchema.annotations({ status: 400, description: "The body is not well-formed JSON" })) {}

/**
 * 408: the request's headers and body did not arrive within the deadline.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTimeout extends Schema.TaggedError<RequestTimeout>()("RequestTimeout", {
  timeoutMillis: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 408, description: "The request was not received in time" })) {}

/**
 * 411: a body sent without a `Content-Length` (chunked uploads are refused).
 *
 * @since 0.1.0
 * @category errors
 */
export class LengthRequired extends Schema.TaggedError<LengthRequired>()("LengthRequired", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 411, description: "A body needs a Content-Length" })) {}

/**
 * 413: the body is larger than the limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limitBytes: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 413, description: "The body is larger than the limit" })) {}

/**
 * 415: a body in a media type the gateway does not accept (only `application/json`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 415, description: "Only application/json bodies are accepted" })) {}

/**
 * 431: the request's headers are larger than the limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class HeadersTooLarge extends Schema.TaggedError<HeadersTooLarge>()("HeadersTooLarge", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 431, description: "The request's headers are too large" })) {}

/**
 * 429 (this client) or 503 (the server): too many open event streams.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyStreams extends Schema.TaggedError<TooManyStreams>()("TooManyStreams", {
  scope: Schema.Literal("client", "server"),
  limit: Schema.Number,
  retryAfter: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 429, description: "Too many open event streams" })) {}

/**
 * 503: the gateway is shutting down; retry on another instance after `retryAfter` seconds.
 * Also the answer to a request still unfinished when the shutdown timeout ran out: an order
 * may or may not have been placed, look it up by its client order id.
 *
 * @since 0.1.0
 * @category errors
 */
export class ShuttingDown extends Schema.TaggedError<ShuttingDown>()("ShuttingDown", {
  retryAfter: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503, description: "The gateway is shutting down" })) {}

/**
 * Any other error answered by the server itself (an unknown route, an unexpected defect: 500,
 * logged once), with its HTTP status.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  status: Schema.Number,
  message: Schema.String
}) {}

/**
 * Every error the server answers itself, outside the API's schema.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransportError =
  | InvalidBody
  | RequestTimeout
  | LengthRequired
  | PayloadTooLarge
  | UnsupportedMediaType
  | HeadersTooLarge
  | TooManyStreams
  | ShuttingDown
  | ServerError

/**
 * The JSON text of a transport error (or any of the errors above): `{ "_tag": …,
 * …fields, "message": … }`, the shape every error of the gateway has.
 *
 * @since 0.1.0
 * @category mapping
 */
export const transportErrorJson = (error: { readonly _tag: string; readonly message: string }): string => {
  const body: Record<string, unknown> = { _tag: error._tag }
  for (const [key, value] of Object.entries(error)) body[key] = value
  body["message"] = error.message
  return JSON.stringify(body)
}

/**
 * A transport error as a response, with its headers (`Retry-After` where the
 * error carries one).
 *
 * @since 0.1.0
 * @category mapping
 */
export const transportErrorResponse = (
  error: { readonly _tag: string; readonly message: string },
  status: number,
  headers: Record<string, string> = {}
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(transportErrorJson(error), {
    status,
    contentType: "application/json",
    headers: "retryAfter" in error ? { "retry-after": String(error.retryAfter), ...headers } : headers
  })
