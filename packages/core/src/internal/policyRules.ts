/**
 * The option rules of `Fallback`, `FaultInjection` and `Hedge`, as Schemas
 * carrying the message a user sees, and the decoder that maps a Schema's
 * first issue to an `InvalidOptionsError` naming the option.
 *
 * A local copy of the rules the `opts` branch puts in `internal/options.ts`
 * (same names, same messages), written while that branch is unmerged: when
 * it lands, these imports switch to `./options.js` and this file goes.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { InvalidOptionsError } from "../ResilienceError.js"

// A rule's message replaces Schema's own, including those of the schema it refines.
const rule = (message: string) => ({ message: () => ({ message, override: true as const }) })

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value)
  }
  if (typeof value === "bigint") return `${value}n`
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "function") return "<function>"
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** @internal */
export const invalid = (policy: string, option: string, value: unknown, rule: string): InvalidOptionsError =>
  new InvalidOptionsError({ policy, option, value: show(value), rule })

const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current: unknown = root
  for (const segment of path) {
    if (!Predicate.isObject(current)) return undefined
    current = (current as Record<PropertyKey, unknown>)[segment]
  }
  return current
}

/**
 * A decoder of `schema` failing with the `InvalidOptionsError` of its first
 * issue. Keys the schema does not know (function-valued options) pass
 * through untouched and are not returned.
 *
 * @internal
 */
export const decoder = <A, I>(policy: string, schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first" })
  return (input: unknown): Effect.Effect<A, InvalidOptionsError> => {
    const result = decode(input)
    if (Either.isRight(result)) return Effect.succeed(result.right)
    const issue = ParseResult.ArrayFormatter.formatErrorSync(result.left)[0]!
    return Effect.fail(
      new InvalidOptionsError({
        policy,
        option: issue.path.map(String).join("."),
        value: show(valueAt(input, issue.path)),
        rule: issue._tag === "Missing" ? "is required" : issue.message
      })
    )
  }
}

const numberRule = (holds: (n: number) => boolean, message: string) =>
  Schema.Number.pipe(Schema.filter(holds)).annotations(rule(message))

/** An integer >= 1. @internal */
export const PositiveInt = numberRule((n) => Number.isInteger(n) && n >= 1, "must be an integer >= 1")

/** An integer >= 0. @internal */
export const NonNegativeInt = numberRule((n) => Number.isInteger(n) && n >= 0, "must be an integer >= 0")

/** A number in (0, 1]: a rate or a share. @internal */
export const Ratio = numberRule((n) => Number.isFinite(n) && n > 0 && n <= 1, "must be a number in (0, 1]")

/** A number in [0, 1]: an injection rate, where 0 is "never". @internal */
export const Probability = numberRule((n) => Number.isFinite(n) && n >= 0 && n <= 1, "must be a number in [0, 1]")

/** A percentile in (0, 100). @internal */
export const Percentile = numberRule((n) => Number.isFinite(n) && n > 0 && n < 100, "must be a number in (0, 100)")

/** An integer in [min, max]. @internal */
export const intInRange = (min: number, max: number) =>
  numberRule((n) => Number.isInteger(n) && n >= min && n <= max, `must be an integer in [${min}, ${max}]`)

const hasControlCharacter = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) < 0x20) return true
  }
  return false
}

/** A non-empty string of at most 256 characters without control characters. @internal */
export const Name = Schema.String.pipe(
  Schema.filter((s) => s.length > 0 && s.length <= 256 && !hasControlCharacter(s))
).annotations(rule("must be a non-empty string of at most 256 printable characters"))

/** @internal */
export const Flag = Schema.Boolean.annotations(rule("must be true or false"))

const durationRule = (holds: (d: Duration.Duration) => boolean, message: string) =>
  Schema.DurationFromSelf.pipe(Schema.filter(holds)).annotations(rule(message))

/** A finite duration > 0. @internal */
export const PositiveDuration = durationRule(
  (d) => Duration.isFinite(d) && Duration.toMillis(d) > 0,
  "must be a finite duration > 0"
)

/** A finite duration >= 0. @internal */
export const NonNegativeDuration = durationRule((d) => Duration.isFinite(d), "must be a finite duration >= 0")

const DURATION_INPUT_RULE = "must be a Duration (e.g. \"5 seconds\" or millis)"

const isNegative = (input: unknown): boolean =>
  (typeof input === "number" && input < 0) ||
  (typeof input === "bigint" && input < BigInt(0)) ||
  (typeof input === "string" && input.trimStart().startsWith("-")) ||
  (Array.isArray(input) && input.some((part) => typeof part === "number" && part < 0))

// What code may pass: a `Duration.DurationInput` (a bare number is millis), refusing what `Duration.decode`
// would silently turn into zero (a negative input, NaN).
const DurationInputEncoding = Schema.transformOrFail(
  Schema.Union(
    Schema.Number,
    Schema.BigIntFromSelf,
    Schema.String,
    Schema.DurationFromSelf,
    Schema.Tuple(Schema.Number, Schema.Number)
  ).annotations(rule(DURATION_INPUT_RULE)),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (isNegative(input)) return ParseResult.fail(new ParseResult.Type(ast, input, "must be >= 0"))
      const decoded = typeof input === "number" && Number.isNaN(input) ? Option.none() : Duration.decodeUnknown(input)
      return Option.isSome(decoded)
        ? ParseResult.succeed(decoded.value)
        : ParseResult.fail(new ParseResult.Type(ast, input, DURATION_INPUT_RULE))
    },
    encode: ParseResult.succeed
  }
)

/** A duration option as code passes it. @internal */
export type DurationOption = Schema.Schema<Duration.Duration, Duration.DurationInput>

/** A duration rule in the code encoding. @internal */
export const durationOption = (durationRule: Schema.Schema<Duration.Duration>): DurationOption =>
  Schema.compose(DurationInputEncoding, durationRule) as unknown as DurationOption

/** A function (a predicate, a thunk): checked for being one, typed by TypeScript. @internal */
export const AnyFunction = Schema.declare(
  (u: unknown): u is (...args: ReadonlyArray<any>) => any => typeof u === "function"
).annotations(rule("must be a function"))

/**
 * A list of `_tag`s and error classes, or a predicate: what `Retry`'s
 * `retryOn` accepts.
 *
 * @internal
 */
export const ErrorSelector = Schema.Union(
  Schema.Array(Schema.Union(Schema.String, AnyFunction)),
  AnyFunction
).annotations(rule("must be a list of tags and error classes, or a predicate"))
