/**
 * The typed errors broker and market-data clients fail with, and which of
 * them are transient (worth retrying).
 *
 * Provider layers map each provider's own error bodies and status codes onto
 * these, so that a caller can `Effect.catchTags` the same way whichever broker
 * or data provider is behind the Tag, and so that retries only ever repeat a
 * call that can succeed on its own: an outage, a throttle, a timeout. A
 * rejected order or a bad key is never retried.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The broker refused the order (HTTP 422 at Alpaca, an `error` reply at IB):
 * bad quantity, market closed, a duplicate client order id, and so on.
 * Not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderRejectedError extends Schema.TaggedError<OrderRejectedError>()("OrderRejectedError", {
  provider: Schema.String,
  reason: Schema.String,
  clientOrderId: Schema.optional(Schema.String),
  /** The broker already has an order with this client order id. */
  duplicate: Schema.optional(Schema.Boolean),
  /** The broker's own error code, when it sends one (Alpaca: `40310000`, …). */
  code: Schema.optional(Schema.Number)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} rejected the order: ${this.reason}`
  }
}

/**
 * Not enough buying power for the order (Alpaca: HTTP 403 with
 * "insufficient buying power"). Not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientFundsError extends Schema.TaggedError<InsufficientFundsError>()("InsufficientFundsError", {
  provider: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider}: insufficient funds: ${this.reason}`
  }
}

/**
 * The provider does not know the symbol (or series). Not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownSymbolError extends Schema.TaggedError<UnknownSymbolError>()("UnknownSymbolError", {
  provider: Schema.String,
  symbol: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} does not know the symbol "${this.symbol}"`
  }
}

/**
 * The credentials were missing, wrong or expired (HTTP 401, or 403 without a
 * funds reason; IB: the gateway session is not authenticated). Not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>()("AuthenticationError", {
  provider: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider}: authentication failed: ${this.reason}`
  }
}

/**
 * The provider throttled the call: HTTP 429 (with its `Retry-After`), or a
 * throttle signalled inside an HTTP 200 body (Alpha Vantage's "Note" /
 * "Information"). Transient: core `Retry` waits `retryAfter` before the next
 * attempt.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderRateLimitedError extends Schema.TaggedError<ProviderRateLimitedError>()(
  "ProviderRateLimitedError",
  {
    provider: Schema.String,
    retryAfter: Schema.DurationFromMillis,
    reason: Schema.optional(Schema.String)
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} rate limited the call; retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * The account's plan does not include this endpoint or data (Alpha Vantage's
 * "premium endpoint", Polygon's 403 `NOT_AUTHORIZED`, …). The key is valid:
 * this is not an `AuthenticationError`, not transient and not an outage
 * (breakers do not count it). `plan` names the plan in use and `requires`
 * what the provider says is needed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderEntitlementError extends Schema.TaggedError<ProviderEntitlementError>()(
  "ProviderEntitlementError",
  {
    provider: Schema.String,
    plan: Schema.String,
    requires: Schema.String,
    reason: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider}: not included in the "${this.plan}" plan (needs ${this.requires}): ${this.reason}`
  }
}

/**
 * The provider refused the request's parameters (HTTP 400 for a bad
 * parameter at FRED, Polygon, Yahoo). Not retried (the same request gets the
 * same answer) and not an outage.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderBadRequestError extends Schema.TaggedError<ProviderBadRequestError>()(
  "ProviderBadRequestError",
  {
    provider: Schema.String,
    status: Schema.Number,
    reason: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} refused the request (HTTP ${this.status}): ${this.reason}`
  }
}

/**
 * A session-based provider (the IB Client Portal Gateway) has no
 * authenticated brokerage session and could not re-establish one: someone
 * must log in through the gateway again. Not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionExpiredError extends Schema.TaggedError<SessionExpiredError>()("SessionExpiredError", {
  provider: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider}: the session is not authenticated (log in again): ${this.reason}`
  }
}

/**
 * The provider could not be reached or failed on its side (transport error,
 * HTTP 5xx, gateway down). Transient.
 *
 * `sent` says whether the request may have reached the provider: `false` for
 * a refused connection, `true` for a 5xx or a connection lost mid-flight. For
 * an order, `sent: true` is ambiguous and is resolved by a lookup before any
 * resend.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderUnavailableError extends Schema.TaggedError<ProviderUnavailableError>()(
  "ProviderUnavailableError",
  {
    provider: Schema.String,
    reason: Schema.String,
    status: Schema.optional(Schema.Number),
    sent: Schema.Boolean
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    return `${this.provider} is unavailable${status}: ${this.reason}`
  }
}

/**
 * The provider answered with a body that does not have the shape its API
 * documents. Not retried: the same request would get the same body.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderDecodeError extends Schema.TaggedError<ProviderDecodeError>()("ProviderDecodeError", {
  provider: Schema.String,
  operation: Schema.String,
  issue: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} ${this.operation}: malformed response: ${this.issue}`
  }
}

/**
 * The provider cannot serve this timeframe (FRED has no intraday series,
 * Alpha Vantage's intraday series stop at 60 minutes, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedTimeframeError extends Schema.TaggedError<UnsupportedTimeframeError>()(
  "UnsupportedTimeframeError",
  {
    provider: Schema.String,
    timeframe: Schema.String,
    reason: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} does not support timeframe "${this.timeframe}": ${this.reason}`
  }
}

/**
 * No order with that id at the broker.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderNotFoundError extends Schema.TaggedError<OrderNotFoundError>()("OrderNotFoundError", {
  provider: Schema.String,
  orderId: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider} has no order "${this.orderId}"`
  }
}

/**
 * An order placement ended in doubt: the request may have reached the broker
 * and every lookup of its client order id failed too. The caller must not
 * place it again under a new id; look it up later with
 * `getOrderByClientOrderId(clientOrderId)`.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderStatusUnknownError extends Schema.TaggedError<OrderStatusUnknownError>()(
  "OrderStatusUnknownError",
  {
    provider: Schema.String,
    clientOrderId: Schema.String,
    reason: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.provider}: the status of order "${this.clientOrderId}" is unknown (${this.reason}); ` +
      `look it up by its client order id before placing it again`
  }
}

/**
 * A registry lookup named a provider this package does not know.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownProviderError extends Schema.TaggedError<UnknownProviderError>()("UnknownProviderError", {
  name: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Unknown provider "${this.name}"; known: ${this.known.join(", ")}`
  }
}

/**
 * A registry lookup named a known provider that is not configured here (no
 * layer given, or its configuration, e.g. an API key, is missing).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderNotConfiguredError extends Schema.TaggedError<ProviderNotConfiguredError>()(
  "ProviderNotConfiguredError",
  {
    provider: Schema.String,
    reason: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Provider "${this.provider}" is not configured: ${this.reason}`
  }
}

/**
 * Every error a provider itself can cause (before any policy adds its own).
 *
 * @since 0.1.0
 * @category errors
 */
export type ProviderError =
  | OrderRejectedError
  | InsufficientFundsError
  | UnknownSymbolError
  | AuthenticationError
  | ProviderRateLimitedError
  | ProviderUnavailableError
  | ProviderDecodeError
  | UnsupportedTimeframeError
  | OrderNotFoundError
  | ProviderEntitlementError
  | ProviderBadRequestError
  | SessionExpiredError

/**
 * The tags of the errors worth retrying: an outage, a throttle, a per-attempt
 * timeout. Use as a Retry `retryOn` whitelist.
 *
 * @since 0.1.0
 * @category predicates
 */
export const transientTags: ReadonlyArray<string> = [
  "ProviderUnavailableError",
  "ProviderRateLimitedError",
  "TimeoutError"
]

const transientSet = new Set(transientTags)

/**
 * Is this error transient (retrying the same call may succeed)?
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (error: unknown): boolean =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && transientSet.has(error._tag)

/**
 * Does this error mean the provider itself is failing (an outage or a
 * timeout)? What a circuit breaker counts: a rejected order, a bad key or a
 * throttle says nothing about the provider's health.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOutage = (error: unknown): boolean =>
  Predicate.hasProperty(error, "_tag") && (error._tag === "ProviderUnavailableError" || error._tag === "TimeoutError")

/**
 * Could an order request that failed with this error have reached the
 * broker? True for a per-attempt timeout and for an unavailable provider
 * after the request was sent; false for a throttle (the broker refused it) or
 * a refused connection. An ambiguous failure is resolved by a lookup of the
 * client order id before anything is resent.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAmbiguous = (error: unknown): boolean => {
  if (!Predicate.hasProperty(error, "_tag")) return false
  if (error._tag === "TimeoutError") return true
  if (error._tag === "ProviderUnavailableError") {
    return !Predicate.hasProperty(error, "sent") || error.sent !== false
  }
  return false
}
