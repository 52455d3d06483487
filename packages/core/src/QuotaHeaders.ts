/**
 * The response headers in which a server states its request quota, read
 * into numbers a client can act on: `Retry-After` (RFC 9110 §10.2.3), the
 * IETF `RateLimit` / `RateLimit-Policy` fields
 * (draft-ietf-httpapi-ratelimit-headers, the `-09` syntax
 * `"name";q=100;w=60` and the earlier unquoted `100;w=60` /
 * `limit=100, remaining=50, reset=30`), and the de-facto
 * `X-RateLimit-Limit` / `-Remaining` / `-Reset`.
 *
 * The project's one parser of these headers: `AdaptiveRateLimiter` reads a
 * provider's responses with it, and http's `RetryAfter` is this module's
 * `retryAfter`.
 *
 * A server controls these values, so every one is bounded, and what fails a
 * rule is ignored (as if the header were absent), never clamped into a
 * number that would steer the client:
 *
 * - a value longer than 256 characters (64 for `Retry-After`) is ignored, and
 *   a list is read up to its first 8 items;
 * - counts (`q`, `r`, limit, remaining) are integers of at most 10 digits,
 *   at most 1,000,000,000 (limit and `q` at least 1);
 * - times (`w`, `t`, reset) are whole seconds, at most one day; an
 *   `X-RateLimit-Reset` of 10 digits or more is read as epoch seconds (as
 *   GitHub sends it) and must fall within the next day;
 * - anything negative, fractional (except a delta-seconds `Retry-After`),
 *   `NaN`, `Infinity` or in exponent form (`1e308`) is not a number here.
 *
 * @since 0.3.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

// ---------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------

// Bounded work on a value a server controls: no real Retry-After is longer.
const retryAfterMaxLength = 64

const deltaSeconds = /^\d+(?:\.\d+)?$/
// The three HTTP-date forms, checked before `Date.parse`, which would read
// "Wed 2" as a date in 2001.
const imfFixdate = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/
const rfc850 = /^[A-Za-z]{6,9}, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/
// asctime names no zone; RFC 9110 says it is GMT.
const asctime = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/

const httpDate = (s: string): number => {
  if (imfFixdate.test(s) || rfc850.test(s)) return Date.parse(s)
  if (asctime.test(s)) return Date.parse(`${s} GMT`)
  return Number.NaN
}

/**
 * Parse a `Retry-After` value, relative to `now` (epoch millis, for the
 * HTTP-date form): delta-seconds (`"120"`, or a decimal `"1.5"`, which some
 * servers send), or an HTTP-date (IMF-fixdate, RFC 850 or asctime; a date in
 * the past is zero). `None` when absent, empty, negative, an impossible or
 * ISO date, or longer than 64 characters: the caller falls back to its own
 * delay.
 *
 * @example
 * ```ts
 * import { QuotaHeaders } from "@effect-resilience/core"
 * import { Duration, Option } from "effect"
 *
 * const now = Date.UTC(2015, 9, 21, 7, 27, 58)
 * QuotaHeaders.retryAfter("120", now) // Option.some(Duration.seconds(120))
 * QuotaHeaders.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now) // Option.some(Duration.seconds(2))
 * QuotaHeaders.retryAfter("soon", now) // Option.none()
 * Option.map(QuotaHeaders.retryAfter("1.5", now), Duration.toMillis) // Option.some(1500)
 * ```
 *
 * @since 0.3.0
 * @category parsing
 */
export const retryAfter = (value: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (value === undefined || value.length > retryAfterMaxLength) return Option.none()
  const s = value.trim()
  if (deltaSeconds.test(s)) return Option.some(Duration.millis(Number(s) * 1000))
  const at = httpDate(s)
  return Number.isNaN(at) ? Option.none() : Option.some(Duration.millis(Math.max(0, at - now)))
}

// ---------------------------------------------------------------------------
// quota fields
// ---------------------------------------------------------------------------

/**
 * What a response says about the quota, each field present only when a
 * header stated it within the module's bounds. Plain milliseconds: the unit
 * of `AdaptiveRateLimiter.step`'s arithmetic.
 *
 * @since 0.3.0
 * @category models
 */
export interface Quota {
  /** Calls the quota allows per window (`q`, `limit`, `X-RateLimit-Limit`). */
  readonly limit?: number | undefined
  /** The quota's window, in milliseconds (`w`). */
  readonly windowMillis?: number | undefined
  /** Calls left before the reset (`r`, `remaining`, `X-RateLimit-Remaining`). */
  readonly remaining?: number | undefined
  /** Milliseconds until the quota resets (`t`, `reset`, `X-RateLimit-Reset`). */
  readonly resetMillis?: number | undefined
}

/**
 * The largest count read from a header.
 *
 * @since 0.3.0
 * @category constants
 */
export const MAX_COUNT = 1_000_000_000

/**
 * The longest window or reset read from a header, in seconds (one day).
 *
 * @since 0.3.0
 * @category constants
 */
export const MAX_SECONDS = 86_400

const maxValueLength = 256
const maxItems = 8
const integer = /^\d{1,10}$/

const count = (s: string | undefined, min: number): number | undefined => {
  if (s === undefined) return undefined
  const t = s.trim()
  if (!integer.test(t)) return undefined
  const n = Number(t)
  return n >= min && n <= MAX_COUNT ? n : undefined
}

const seconds = (s: string | undefined, min: number): number | undefined => {
  const n = count(s, min)
  return n === undefined || n > MAX_SECONDS ? undefined : n * 1000
}

// X-RateLimit-Reset: delta seconds, or epoch seconds (10 digits and more) within the next day.
const resetOf = (s: string | undefined, now: number): number | undefined => {
  if (s === undefined) return undefined
  const t = s.trim()
  if (!integer.test(t)) return undefined
  if (t.length < 10) return seconds(t, 0)
  const millis = Number(t) * 1000 - now
  return millis >= 0 && millis <= MAX_SECONDS * 1000 ? millis : undefined
}

const header = (headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const value = headers[name]
  return value === undefined || value.length > maxValueLength ? undefined : value
}

/** The parameters of a structured-field list's items (`"a";q=1;w=2, "b";q=3`), at most `maxItems`. */
const items = (value: string): Array<Map<string, string>> => {
  const out: Array<Map<string, string>> = []
  for (const item of value.split(",", maxItems)) {
    const params = new Map<string, string>()
    const parts = item.split(";")
    // the unquoted earlier drafts put the quota first: `100;w=60`
    const first = parts[0]!.trim()
    if (integer.test(first)) params.set("q", first)
    for (let i = 1; i < parts.length; i++) {
      const eq = parts[i]!.indexOf("=")
      if (eq > 0) params.set(parts[i]!.slice(0, eq).trim().toLowerCase(), parts[i]!.slice(eq + 1))
    }
    out.push(params)
  }
  return out
}

/** `limit=100, remaining=50, reset=30` (draft -03 and earlier) as one item. */
const dictionary = (value: string): Map<string, string> => {
  const params = new Map<string, string>()
  for (const part of value.split(",", maxItems)) {
    const eq = part.indexOf("=")
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1))
  }
  return params
}

interface Mutable {
  limit?: number | undefined
  windowMillis?: number | undefined
  remaining?: number | undefined
  resetMillis?: number | undefined
}

/**
 * The quota a response's headers state (lower-case names, as
 * `HttpClientResponse.headers` holds them), `undefined` when none states
 * one. Where several policies are listed, the most restrictive wins (the
 * smallest `q / w`, the smallest `r / t`). The IETF fields are read first;
 * `X-RateLimit-*` fill what they left unset.
 *
 * @example
 * ```ts
 * import { QuotaHeaders } from "@effect-resilience/core"
 *
 * QuotaHeaders.quota({ "ratelimit-policy": "\"default\";q=100;w=60", "ratelimit": "\"default\";r=40;t=12" }, 0)
 * // { limit: 100, windowMillis: 60000, remaining: 40, resetMillis: 12000 }
 * QuotaHeaders.quota({ "x-ratelimit-remaining": "-1", "x-ratelimit-limit": "1e308" }, 0) // undefined
 * ```
 *
 * @since 0.3.0
 * @category parsing
 */
export const quota = (headers: Readonly<Record<string, string | undefined>>, now: number): Quota | undefined => {
  const out: Mutable = {}
  const policy = header(headers, "ratelimit-policy")
  if (policy !== undefined) {
    let best = Number.POSITIVE_INFINITY
    for (const params of items(policy)) {
      const q = count(params.get("q"), 1)
      const w = seconds(params.get("w"), 1)
      if (q === undefined) continue
      const rate = w === undefined ? Number.POSITIVE_INFINITY : q / w
      if (out.limit === undefined || rate < best) {
        best = rate
        out.limit = q
        out.windowMillis = w
      }
    }
  }
  const current = header(headers, "ratelimit")
  if (current !== undefined) {
    const list = current.includes("limit=") || current.includes("remaining=") ? [dictionary(current)] : items(current)
    let best = Number.POSITIVE_INFINITY
    for (const params of list) {
      const r = count(params.get("r") ?? params.get("remaining"), 0)
      const t = seconds(params.get("t") ?? params.get("reset"), 0)
      if (r === undefined || t === undefined) continue
      const rate = t === 0 ? Number.POSITIVE_INFINITY : r / t
      if (out.remaining === undefined || rate < best) {
        best = rate
        out.remaining = r
        out.resetMillis = t
      }
      const limit = count(params.get("limit"), 1)
      if (limit !== undefined && out.limit === undefined) out.limit = limit
    }
  }
  out.limit ??= count(header(headers, "x-ratelimit-limit") ?? header(headers, "ratelimit-limit"), 1)
  if (out.remaining === undefined || out.resetMillis === undefined) {
    const r = count(header(headers, "x-ratelimit-remaining") ?? header(headers, "ratelimit-remaining"), 0)
    const t = resetOf(header(headers, "x-ratelimit-reset") ?? header(headers, "ratelimit-reset"), now)
    if (r !== undefined && t !== undefined) {
      out.remaining = r
      out.resetMillis = t
    }
  }
  // a remaining count without a reset says nothing a client can pace by
  if (out.limit === undefined && out.remaining === undefined) return undefined
  const result: Mutable = {}
  if (out.limit !== undefined) result.limit = out.limit
  if (out.windowMillis !== undefined) result.windowMillis = out.windowMillis
  if (out.remaining !== undefined) result.remaining = out.remaining
  if (out.resetMillis !== undefined) result.resetMillis = out.resetMillis
  return result
}
