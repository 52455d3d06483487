/**
 * The typed errors every policy of this package fails with, and the
 * `ResilienceError` union a caller can `Effect.catchTags` on.
 *
 * Reach for this module when you handle a rejection: a breaker that is open,
 * a bulkhead that is full, a timeout, a rate limit. Each error carries what a
 * caller needs to act on it (which policy, why, and when to try again).
 *
 * Errors are constructed on rejection paths only, so they are allowed the
 * Schema validation their constructors do.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * A call was rejected because its circuit breaker is Open (or forced
 * Isolated, or HalfOpen with every probe slot taken). Nothing was sent.
 *
 * `retryAfter` is how long until the breaker will admit a probe again
 * (`Duration.infinity` while isolated).
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Schema.TaggedError<CircuitOpenError>()("CircuitOpenError", {
  breaker: Schema.String,
  state: Schema.Literal("Open", "HalfOpen", "Isolated"),
  retryAfter: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return Duration.isFinite(this.retryAfter)
      ? `Circuit breaker "${this.breaker}" is ${this.state}; retry after ${Duration.format(this.retryAfter)}`
      : `Circuit breaker "${this.breaker}" is ${this.state}; it admits no call until it is reset`
  }
}

/**
 * A call was rejected by a bulkhead: every permit was taken and the waiting
 * queue was full (`"full"`), or the call waited longer than the acquire
 * timeout (`"timeout"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadRejectedError extends Schema.TaggedError<BulkheadRejectedError>()("BulkheadRejectedError", {
  bulkhead: Schema.String,
  reason: Schema.Literal("full", "timeout")
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason === "full"
      ? `Bulkhead "${this.bulkhead}" is full`
      : `Bulkhead "${this.bulkhead}" timed out waiting for a permit`
  }
}

/**
 * A call took longer than its timeout. The call itself was interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>()("TimeoutError", {
  duration: Schema.DurationFromMillis,
  operation: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const what = this.operation === undefined ? "Operation" : `Operation "${this.operation}"`
    return `${what} timed out after ${Duration.format(this.duration)}`
  }
}

/**
 * A call was rejected by a rate limiter: the project's one rate-limit
 * rejection, from `RateLimiter` in a program and from http's `RateLimit`
 * middleware as the body of a 429 (same class, same `_tag`, so one
 * `catchTag("RateLimitedError")` handles both).
 *
 * - `key`: the client's bucket as the store names it (short printable keys
 *   as they are, others hashed; http's 429 always hashes it, so a response
 *   body never echoes an API key).
 * - `policy`: which bucket refused, `"client"` (the key's own) or `"global"`
 *   (the limiter-wide one): the policy name of the `RateLimit` header.
 * - `retryAfter`: exact; after it, a call of the same cost would be admitted
 *   (if nobody else takes the tokens). Encoded as milliseconds.
 * - `limit`, `remaining`: that bucket's size and whole tokens left.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitedError extends Schema.TaggedError<RateLimitedError>()("RateLimitedError", {
  key: Schema.String,
  policy: Schema.Literal("client", "global"),
  retryAfter: Schema.DurationFromMillis,
  limit: Schema.Number,
  remaining: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Rate limit "${this.policy}" exceeded for "${this.key}"; retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * Options given to a policy's `make` (or a profile) broke a rule: zero,
 * negative, NaN, a maximum below its base, and so on. `option` names the
 * field, `rule` says what it must be.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptionsError extends Schema.TaggedError<InvalidOptionsError>()("InvalidOptionsError", {
  policy: Schema.String,
  option: Schema.String,
  value: Schema.String,
  rule: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid ${this.policy} option "${this.option}" = ${this.value}: ${this.rule}`
  }
}

/**
 * Every rejection a policy of this package can add to an effect's error
 * channel.
 *
 * @since 0.1.0
 * @category errors
 */
export type ResilienceError = CircuitOpenError | BulkheadRejectedError | TimeoutError | RateLimitedError

/**
 * The Schema of the `ResilienceError` union, to decode one that crossed a
 * process boundary.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResilienceError: Schema.Union<
  [typeof CircuitOpenError, typeof BulkheadRejectedError, typeof TimeoutError, typeof RateLimitedError]
> = Schema.Union(CircuitOpenError, BulkheadRejectedError, TimeoutError, RateLimitedError)

const resilienceTags = new Set(["CircuitOpenError", "BulkheadRejectedError", "TimeoutError", "RateLimitedError"])

/**
 * Is this value one of the `ResilienceError`s?
 *
 * @since 0.1.0
 * @category guards
 */
export const isResilienceError = (u: unknown): u is ResilienceError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && resilienceTags.has(u._tag)

/**
 * The server-requested delay an error carries, if any: a `retryAfter` field
 * holding a `Duration` (or a number of milliseconds). Retry honours it; any
 * error type of yours can carry one (an HTTP 429's `Retry-After`, say).
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfterOf = (error: unknown): Option.Option<Duration.Duration> => {
  if (!Predicate.hasProperty(error, "retryAfter")) return Option.none()
  const value = error.retryAfter
  if (Duration.isDuration(value)) return Option.some(value)
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return Option.some(Duration.millis(value))
  return Option.none()
}

/**
 * The `_tag` of an error; else, for an `Error`, its `name` (`"Error"`, or
 * whatever the class sets: a subclass that does not set `name` reports
 * `"Error"`); else `"unknown"`. The label used in logs and metrics, and what a
 * `retryOn` tag is matched against (list the class itself to match by
 * `instanceof`).
 *
 * @since 0.1.0
 * @category getters
 */
export const tagOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") return error._tag
  if (error instanceof Error) return error.name
  return "unknown"
}
