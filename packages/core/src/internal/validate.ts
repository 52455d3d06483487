/**
 * Option validation shared by every policy's `make`: each check either
 * returns the value (or its default) or fails with an `InvalidOptionsError`
 * naming the policy, the option and the rule. Never a throw.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidOptionsError } from "../ResilienceError.js"

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
export const invalid = (policy: string, option: string, value: unknown, rule: string): InvalidOptionsError =>
  new InvalidOptionsError({ policy, option, value: show(value), rule })

/** @internal */
export const fail = (policy: string, option: string, value: unknown, rule: string) =>
  Effect.fail(invalid(policy, option, value, rule))

type NumberCheck = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number
) => Effect.Effect<number, InvalidOptionsError>

// One shape for every numeric rule: the value (or its default) when it holds, else the rule named.
const numberRule = (holds: (v: number) => boolean, rule: string): NumberCheck => (policy, option, value, fallback) => {
  const v = value ?? fallback
  return holds(v) ? Effect.succeed(v) : fail(policy, option, v, rule)
}

/** A finite number >= 1 with no fraction (a count of calls, permits, …). @internal */
export const positiveInt: NumberCheck = numberRule((v) => Number.isInteger(v) && v >= 1, "must be an integer >= 1")

/** A finite number >= 0 with no fraction. @internal */
export const nonNegativeInt: NumberCheck = numberRule((v) => Number.isInteger(v) && v >= 0, "must be an integer >= 0")

/** A finite number > 0. @internal */
export const positiveNumber: NumberCheck = numberRule((v) => Number.isFinite(v) && v > 0, "must be a finite number > 0")

/** A number in (0, 1]: a rate or a share. @internal */
export const ratio: NumberCheck = numberRule((v) => Number.isFinite(v) && v > 0 && v <= 1, "must be a number in (0, 1]")

/**
 * A finite duration > 0 (or >= 0 when `allowZero`). Accepts anything
 * `Duration.decode` does, without throwing on garbage.
 *
 * @internal
 */
export const duration = (
  policy: string,
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  allowZero = false
): Effect.Effect<Duration.Duration, InvalidOptionsError> => {
  const input = value ?? fallback
  // Duration.decode turns a negative input (-1, "-5 seconds", [-1, 0]) into zero: refuse it first,
  // or an option that allows zero would take a typo as "no wait" silently.
  if (isNegative(input)) return fail(policy, option, input, allowZero ? "must be >= 0" : "must be > 0")
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

const isNegative = (input: unknown): boolean =>
  (typeof input === "number" && input < 0) ||
  (typeof input === "bigint" && input < BigInt(0)) ||
  (typeof input === "string" && input.trimStart().startsWith("-")) ||
  (Array.isArray(input) && input.some((part) => typeof part === "number" && part < 0))

/** A non-empty string without control characters. @internal */
export const name = (
  policy: string,
  option: string,
  value: string | undefined
): Effect.Effect<string, InvalidOptionsError> =>
  typeof value === "string" && value.length > 0 && value.length <= 256 && !hasControlCharacter(value)
    ? Effect.succeed(value)
    : fail(policy, option, value, "must be a non-empty string of at most 256 printable characters")

const hasControlCharacter = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) < 0x20) return true
  }
  return false
}

/** An integer in [min, max] (a prefix length, a port, …). @internal */
export const intInRange = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number
): Effect.Effect<number, InvalidOptionsError> =>
  numberRule((v) => Number.isInteger(v) && v >= min && v <= max, `must be an integer in [${min}, ${max}]`)(
    policy,
    option,
    value,
    fallback
  )

const tokenChar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** An HTTP header name (an RFC 9110 token). @internal */
export const headerName = (
  policy: string,
  option: string,
  value: string | undefined
): Effect.Effect<string, InvalidOptionsError> =>
  typeof value === "string" && value.length <= 256 && tokenChar.test(value)
    ? Effect.succeed(value)
    : fail(policy, option, value, "must be an HTTP header name (an RFC 9110 token)")

/**
 * A name that goes into metric labels, logs and headers as is (or its
 * default): 1-256 printable ASCII characters, no leading space, no quotes or
 * backslashes.
 *
 * @internal
 */
export const printableName = (
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
