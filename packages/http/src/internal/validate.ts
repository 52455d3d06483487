/**
 * Option validation for this package's `make`s: each check returns the value
 * (or its default) or fails with core's `InvalidOptionsError` naming the
 * option. Never a throw.
 *
 * @internal
 */
import { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value)
  }
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** @internal */
export const fail = (policy: string, option: string, value: unknown, rule: string) =>
  Effect.fail(new InvalidOptionsError({ policy, option, value: show(value), rule }))

/** An integer in [min, max]. @internal */
export const intInRange = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number
): Effect.Effect<number, InvalidOptionsError> => {
  const v = value ?? fallback
  return Number.isInteger(v) && v >= min && v <= max
    ? Effect.succeed(v)
    : fail(policy, option, v, `must be an integer in [${min}, ${max}]`)
}

/** An integer >= 1. @internal */
export const positiveInt = (policy: string, option: string, value: number | undefined, fallback: number) =>
  intInRange(policy, option, value, fallback, 1, Number.MAX_SAFE_INTEGER)

/** An integer >= 0. @internal */
export const nonNegativeInt = (policy: string, option: string, value: number | undefined, fallback: number) =>
  intInRange(policy, option, value, fallback, 0, Number.MAX_SAFE_INTEGER)

/** A finite duration > 0 (or >= 0 when `allowZero`). @internal */
export const duration = (
  policy: string,
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  allowZero = false
): Effect.Effect<Duration.Duration, InvalidOptionsError> => {
  const input = value ?? fallback
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) return fail(policy, option, input, "must be a Duration (e.g. \"5 seconds\" or millis)")
  const d = decoded.value
  if (!Duration.isFinite(d)) return fail(policy, option, input, "must be finite")
  const millis = Duration.toMillis(d)
  if (Number.isNaN(millis) || millis < 0 || (!allowZero && millis === 0)) {
    return fail(policy, option, input, allowZero ? "must be >= 0" : "must be > 0")
  }
  return Effect.succeed(d)
}

const tokenChar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** An HTTP header name (RFC 9110 token). @internal */
export const headerName = (
  policy: string,
  option: string,
  value: string | undefined
): Effect.Effect<string, InvalidOptionsError> =>
  typeof value === "string" && value.length <= 256 && tokenChar.test(value)
    ? Effect.succeed(value)
    : fail(policy, option, value, "must be an HTTP header name (an RFC 9110 token)")

/** A name for metrics, logs and headers: 1-256 printable characters without quotes. @internal */
export const name = (
  policy: string,
  option: string,
  value: string | undefined,
  fallback: string
): Effect.Effect<string, InvalidOptionsError> => {
  const v = value ?? fallback
  return typeof v === "string" && /^[\x21\x23-\x5b\x5d-\x7e][\x20\x21\x23-\x5b\x5d-\x7e]{0,255}$/.test(v)
    ? Effect.succeed(v)
    : fail(policy, option, v, "must be 1-256 printable characters without quotes or backslashes")
}
