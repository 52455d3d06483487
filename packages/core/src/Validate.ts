/**
 * Option checks for code that builds policies on core (the http, redis and
 * clients packages, or your own): each returns the value, or its default when
 * the option is absent, or fails with an `InvalidOptionsError` naming the
 * policy, the option and the rule it broke. Never a throw, so a `make` that
 * uses them reports bad options as a typed error, as core's own policies do.
 *
 * Each check decodes with the same rule (and message) as the policies'
 * `OptionsSchema`s and `ResilienceConfig`: `Validate.positiveInt` refuses
 * exactly what `Bulkhead.OptionsSchema`'s `maxConcurrent` refuses, with the
 * same words. Durations are in the code encoding: a `Duration.DurationInput`,
 * bare numbers being millis.
 *
 * @example
 * ```ts
 * import { Validate } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * interface PoolOptions {
 *   readonly size?: number | undefined
 *   readonly idleTimeout?: Duration.DurationInput | undefined
 * }
 *
 * const makePool = (options: PoolOptions) =>
 *   Effect.gen(function*() {
 *     const size = yield* Validate.positiveInt("Pool", "size", options.size, 10)
 *     const idleTimeout = yield* Validate.duration("Pool", "idleTimeout", options.idleTimeout, "30 seconds")
 *     return { size, idleTimeout }
 *   })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/validate.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

/**
 * A numeric check: the value, or `fallback` when it is `undefined`, if it
 * holds; otherwise an `InvalidOptionsError` naming `policy`, `option` and the
 * rule.
 *
 * @since 0.1.0
 * @category models
 */
export type NumberCheck = (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number
) => Effect.Effect<number, InvalidOptionsError>

/**
 * The `InvalidOptionsError` for an option that broke `rule` (the value is
 * shown as JSON, or as a formatted Duration).
 *
 * @since 0.1.0
 * @category errors
 */
export const invalid: (policy: string, option: string, value: unknown, rule: string) => InvalidOptionsError =
  internal.invalid

/**
 * Fail with `invalid(policy, option, value, rule)`: for rules of your own.
 *
 * @since 0.1.0
 * @category errors
 */
export const fail: (
  policy: string,
  option: string,
  value: unknown,
  rule: string
) => Effect.Effect<never, InvalidOptionsError> = internal.fail

/**
 * An integer >= 1 (a count of calls, permits, …).
 *
 * @since 0.1.0
 * @category checks
 */
export const positiveInt: NumberCheck = internal.positiveInt

/**
 * An integer >= 0.
 *
 * @since 0.1.0
 * @category checks
 */
export const nonNegativeInt: NumberCheck = internal.nonNegativeInt

/**
 * A finite number > 0.
 *
 * @since 0.1.0
 * @category checks
 */
export const positiveNumber: NumberCheck = internal.positiveNumber

/**
 * A number in (0, 1]: a rate or a share.
 *
 * @since 0.1.0
 * @category checks
 */
export const ratio: NumberCheck = internal.ratio

/**
 * An integer in [min, max] (a prefix length, a port, …).
 *
 * @since 0.1.0
 * @category checks
 */
export const intInRange: (
  policy: string,
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number
) => Effect.Effect<number, InvalidOptionsError> = internal.intInRange

/**
 * A finite Duration > 0 (>= 0 when `allowZero`), from anything
 * `Duration.decode` accepts ("5 seconds", millis, a Duration), without
 * throwing on garbage; a negative input is refused ("must be >= 0"), not
 * clamped to zero.
 *
 * @since 0.1.0
 * @category checks
 */
export const duration: (
  policy: string,
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  allowZero?: boolean
) => Effect.Effect<Duration.Duration, InvalidOptionsError> = internal.duration

/**
 * A non-empty string of at most 256 characters without control characters.
 *
 * @since 0.1.0
 * @category checks
 */
export const name: (
  policy: string,
  option: string,
  value: string | undefined
) => Effect.Effect<string, InvalidOptionsError> = internal.name

/**
 * A name that goes into metric labels, logs and headers as it is (or its
 * default): 1-256 printable ASCII characters, no leading space, no quotes or
 * backslashes.
 *
 * @since 0.1.0
 * @category checks
 */
export const printableName: (
  policy: string,
  option: string,
  value: string | undefined,
  fallback: string
) => Effect.Effect<string, InvalidOptionsError> = internal.printableName

/**
 * An HTTP header name (an RFC 9110 token, at most 256 characters).
 *
 * @since 0.1.0
 * @category checks
 */
export const headerName: (
  policy: string,
  option: string,
  value: string | undefined
) => Effect.Effect<string, InvalidOptionsError> = internal.headerName
