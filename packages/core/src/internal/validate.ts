/**
 * One-value checks for code that validates options field by field (core's
 * policies before their schema existed, the http, redis and clients
 * packages through `Validate`): each decodes the value (or its default) with
 * one of the rules of `options.ts` and fails with the `InvalidOptionsError`
 * its schema reports. Never a throw.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as options from "./options.js"

/** @internal */
export const invalid = options.invalid

/** @internal */
export const fail = (policy: string, option: string, value: unknown, rule: string) =>
  Effect.fail(invalid(policy, option, value, rule))

/** `value` decoded by `rule`, or the `InvalidOptionsError` naming `policy` and `option`. @internal */
export const check = <A, I>(rule: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(rule, { errors: "first" })
  return (policy: string, option: string, value: unknown): Effect.Effect<A, InvalidOptionsError> => {
    const result = decode(value)
    return Either.isRight(result)
      ? Effect.succeed(result.right)
      : Effect.fail(options.toInvalidOptions(policy, value, result.left, [option]))
  }
}

type NumberCheck = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number
) => Effect.Effect<number, InvalidOptionsError>

const withFallback = (rule: Schema.Schema<number>): NumberCheck => {
  const run = check(rule)
  return (policy, option, value, fallback) => run(policy, option, value ?? fallback)
}

/** @internal */
export const positiveInt: NumberCheck = withFallback(options.PositiveInt)

/** @internal */
export const nonNegativeInt: NumberCheck = withFallback(options.NonNegativeInt)

/** @internal */
export const positiveNumber: NumberCheck = withFallback(options.PositiveNumber)

/** @internal */
export const ratio: NumberCheck = withFallback(options.Ratio)

/** @internal */
export const intInRange = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number
): Effect.Effect<number, InvalidOptionsError> =>
  withFallback(options.intInRange(min, max))(policy, option, value, fallback)

const positiveDuration = check(options.durationOption(options.PositiveDuration))
const nonNegativeDuration = check(options.durationOption(options.NonNegativeDuration))

/** A finite duration > 0 (>= 0 when `allowZero`), in the code encoding. @internal */
export const duration = (
  policy: string,
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  allowZero = false
): Effect.Effect<Duration.Duration, InvalidOptionsError> =>
  (allowZero ? nonNegativeDuration : positiveDuration)(policy, option, value ?? fallback)

const nameCheck = check(options.Name)

/** @internal */
export const name = (
  policy: string,
  option: string,
  value: string | undefined
): Effect.Effect<string, InvalidOptionsError> => nameCheck(policy, option, value)

const headerNameCheck = check(options.HeaderName)

/** @internal */
export const headerName = (
  policy: string,
  option: string,
  value: string | undefined
): Effect.Effect<string, InvalidOptionsError> => headerNameCheck(policy, option, value)

const printableNameCheck = check(options.PrintableName)

/** @internal */
export const printableName = (
  policy: string,
  option: string,
  value: string | undefined,
  fallback: string
): Effect.Effect<string, InvalidOptionsError> => printableNameCheck(policy, option, value ?? fallback)
