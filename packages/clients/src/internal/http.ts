/** @internal */
import * as RetryAfter from "@effect-resilience/http/RetryAfter"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  AuthenticationError,
  ProviderDecodeError,
  ProviderRateLimitedError,
  ProviderUnavailableError
} from "../ClientError.js"

/** @internal */
export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/**
 * Send a request and read its whole body as text. Any transport failure is an
 * unavailable provider; it is `sent: true` because fetch cannot tell a
 * refused connection from one lost mid-flight, and an order resolved by a
 * lookup is safe either way.
 *
 * @internal
 */
export const send = (
  client: HttpClient.HttpClient,
  provider: string,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<RawResponse, ProviderUnavailableError> =>
  client.execute(request).pipe(
    Effect.flatMap((response) =>
      Effect.map(response.text, (text): RawResponse => ({ status: response.status, headers: response.headers, text }))
    ),
    Effect.catchAll((error) =>
      Effect.fail(
        new ProviderUnavailableError({
          provider,
          reason: error._tag === "RequestError" ? `${error.reason}: ${error.message}` : error.message,
          sent: !(error._tag === "RequestError" && (error.reason === "Encode" || error.reason === "InvalidUrl"))
        })
      )
    )
  )

/**
 * Parse a body as JSON and decode it; any failure is a `ProviderDecodeError`.
 *
 * @internal
 */
export const decodeJson = <A, I>(
  schema: Schema.Schema<A, I>,
  provider: string,
  operation: string
) => {
  const decode = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })
  return (text: string): Effect.Effect<A, ProviderDecodeError> => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return Effect.fail(new ProviderDecodeError({ provider, operation, issue: `not JSON: ${text.slice(0, 80)}` }))
    }
    const result = decode(json)
    return Either.isRight(result)
      ? Effect.succeed(result.right)
      : Effect.fail(
        new ProviderDecodeError({ provider, operation, issue: ParseResult.TreeFormatter.formatErrorSync(result.left) })
      )
  }
}

/**
 * Parse JSON leniently (for error bodies): `undefined` when it is not JSON.
 *
 * @internal
 */
export const parseLenient = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * `Retry-After` (http's `RetryAfter`: delta-seconds or an HTTP-date);
 * `fallback` when absent or unreadable.
 *
 * @internal
 */
export const retryAfter = (
  headers: Readonly<Record<string, string>>,
  fallback: Duration.Duration
): Effect.Effect<Duration.Duration> =>
  Effect.map(Clock.currentTimeMillis, (now) => Option.getOrElse(RetryAfter.fromHeaders(headers, now), () => fallback))

/**
 * The mapping every provider shares: 401 → authentication, 429 → rate
 * limited (honouring Retry-After), 5xx/408 → unavailable. `undefined` for
 * the statuses the provider maps itself.
 *
 * @internal
 */
export const commonStatusError = (
  provider: string,
  response: RawResponse,
  reason: string,
  retryAfterFallback: Duration.Duration
):
  | Effect.Effect<never, AuthenticationError | ProviderRateLimitedError | ProviderUnavailableError>
  | undefined =>
{
  const status = response.status
  if (status === 401) return Effect.fail(new AuthenticationError({ provider, reason }))
  if (status === 429) {
    return Effect.flatMap(
      retryAfter(response.headers, retryAfterFallback),
      (after) => Effect.fail(new ProviderRateLimitedError({ provider, retryAfter: after, reason }))
    )
  }
  if (status === 408 || status >= 500) {
    return Effect.fail(new ProviderUnavailableError({ provider, reason, status, sent: true }))
  }
  return undefined
}

/**
 * A finite number from a JSON number or numeric string (providers send both).
 *
 * @internal
 */
export const NumberLike: Schema.Schema<number, string | number> = Schema.Union(
  Schema.Number,
  Schema.NumberFromString
).pipe(Schema.filter((n) => Number.isFinite(n) || "a finite number"))

/** @internal */
export const trimBase = (url: string): string => url.replace(/\/+$/, "")

/** @internal */
export const timeframeMillis: Record<"1m" | "5m" | "15m" | "1h" | "1d", number> = {
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "1h": 3_600_000,
  "1d": 86_400_000
}

/** @internal Default number of bars when a query names no range and no limit. */
export const defaultBarCount = 100

/**
 * The `[from, to]` window of a bars query: the query's own, else the last
 * `limit` (or 100) bars before now (read from the fiber's Clock).
 *
 * @internal
 */
export const windowOf = (
  timeframe: "1m" | "5m" | "15m" | "1h" | "1d",
  query: { readonly from?: Date | undefined; readonly to?: Date | undefined; readonly limit?: number | undefined }
): Effect.Effect<{ readonly from: number; readonly to: number }> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const to = query.to?.getTime() ?? now
    // Calendar gaps (nights, weekends) leave fewer bars than the span suggests: over-fetch ×3, then trim.
    const from = query.from?.getTime() ?? to - (query.limit ?? defaultBarCount) * timeframeMillis[timeframe] * 3
    return { from, to }
  })

/**
 * Bars inside the query's range, oldest first, at most `limit` (the latest).
 *
 * @internal
 */
export const trimBars = <B extends { readonly timestamp: Date }>(
  bars: ReadonlyArray<B>,
  query: { readonly from?: Date | undefined; readonly to?: Date | undefined; readonly limit?: number | undefined }
): ReadonlyArray<B> => {
  const from = query.from?.getTime() ?? -Infinity
  const to = query.to?.getTime() ?? Infinity
  const inRange = bars
    .filter((b) => b.timestamp.getTime() >= from && b.timestamp.getTime() <= to)
    .sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime())
  return query.limit !== undefined && inRange.length > query.limit
    ? inRange.slice(inRange.length - query.limit)
    : inRange
}

/** @internal `YYYY-MM-DD` in UTC. */
export const isoDate = (millis: number): string => new Date(millis).toISOString().slice(0, 10)
