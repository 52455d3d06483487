/**
 * The `Retry-After` response header (RFC 9110 §10.2.3), read into a
 * `Duration`: how long the server asks a client to wait before its next
 * request. The one parser of the project is core's `QuotaHeaders.retryAfter`
 * (which `AdaptiveRateLimiter` uses too): this module is it under http's
 * name, and `ResilientHttpClient` and the provider clients of
 * `@effect-resilience/clients` both read the header here.
 *
 * It accepts what servers send, and nothing that merely looks like it:
 *
 * - delta-seconds: `"120"`; a decimal (`"1.5"`) is accepted too, as some
 *   servers send one;
 * - an HTTP-date, relative to `now`: `"Wed, 21 Oct 2015 07:28:00 GMT"`
 *   (IMF-fixdate), or one of the obsolete forms RFC 9110 still asks
 *   recipients to read (RFC 850 `"Sunday, 06-Nov-94 08:49:37 GMT"`, asctime
 *   `"Sun Nov  6 08:49:37 1994"`); a date in the past is zero;
 * - anything else (empty, negative, an impossible date, an ISO date, a
 *   value longer than 64 characters) is `None`: the caller falls back to
 *   its own delay.
 *
 * Reach for it when a response of yours can carry the header; for what to do
 * with the delay, see core's `Retry` (a `retryAfter` on an error is honoured).
 *
 * @since 0.1.0
 */
import * as QuotaHeaders from "@effect-resilience/core/QuotaHeaders"
import type * as Duration from "effect/Duration"
import type * as Option from "effect/Option"

/**
 * Parse a `Retry-After` value, relative to `now` (epoch millis, for the
 * HTTP-date form). `None` when the value is absent or not a valid
 * `Retry-After`.
 *
 * @example
 * ```ts
 * import { RetryAfter } from "@effect-resilience/http"
 * import { Duration, Option } from "effect"
 *
 * const now = Date.UTC(2015, 9, 21, 7, 27, 58)
 * RetryAfter.parse("120", now) // Option.some(Duration.seconds(120))
 * RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", now) // Option.some(Duration.seconds(2))
 * RetryAfter.parse("soon", now) // Option.none()
 * Option.map(RetryAfter.parse("1.5", now), Duration.toMillis) // Option.some(1500)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (value: string | undefined, now: number) => Option.Option<Duration.Duration> =
  QuotaHeaders.retryAfter

/**
 * The `Retry-After` of a response's headers (`HttpClientResponse.headers`, or
 * any record keyed by lower-case header names), parsed with `parse`.
 *
 * @example
 * ```ts
 * import { RetryAfter } from "@effect-resilience/http"
 * import type { HttpClientResponse } from "@effect/platform"
 * import { Clock, Duration, Effect, Option } from "effect"
 *
 * // the server's wait, or one second when it gave none
 * const waitFor = (response: HttpClientResponse.HttpClientResponse) =>
 *   Effect.map(
 *     Clock.currentTimeMillis,
 *     (now) => Option.getOrElse(RetryAfter.fromHeaders(response.headers, now), () => Duration.seconds(1))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Option.Option<Duration.Duration> => parse(headers["retry-after"], now)
