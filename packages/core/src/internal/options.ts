/**
 * The one source of truth for policies' options: the rules (one Schema each,
 * carrying the message a user sees), the two encodings of a duration, the
 * options schema of every policy, and the mapping of the first Schema issue
 * to an `InvalidOptionsError`.
 *
 * Every policy's `make` decodes its options with its schema here;
 * `ResilienceConfig` builds its profiles from the same schemas' fields (and
 * derives its environment variables from them); `Validate` checks one value
 * against one of these rules.
 *
 * One rule set, two encodings. A rule is stated on the decoded value (a
 * number, a `Duration`). Code passes a `Duration.DurationInput`, where a bare
 * number is millis as everywhere in Effect; configuration text must carry a
 * unit ("10 seconds", "10s", "500ms"), and a bare number is rejected there:
 * the seeds count seconds, Effect counts millis, and guessing wrong turns a
 * 10 s timeout into 10 ms. Both encodings refuse a negative duration with
 * the same "must be >= 0" (Effect's `Duration.decode` would clamp it to zero,
 * and an option that allows zero would take the typo as "no wait").
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
import * as AST from "effect/SchemaAST"
import { InvalidOptionsError } from "../ResilienceError.js"

// ---------------------------------------------------------------------------
// messages and errors
// ---------------------------------------------------------------------------

/**
 * The annotation giving a rule its message: it replaces Schema's own,
 * including those of the schema it refines (a string given for a number
 * reports the number's rule, not "Expected number").
 *
 * @internal
 */
export const rule = (message: string) => ({ message: () => ({ message, override: true as const }) })

/** How a value is shown in an error: strings as JSON, Durations formatted. @internal */
export const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value)
  }
  if (typeof value === "bigint") return `${value}n`
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
export const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current: unknown = root
  for (const segment of path) {
    if (!Predicate.isObject(current)) return undefined
    current = (current as Record<PropertyKey, unknown>)[segment]
  }
  return current
}

/** A Schema issue as a user reads it: "is required" for a missing key, else the rule's message. @internal */
export const ruleOf = (issue: ParseResult.ArrayFormatterIssue): string =>
  issue._tag === "Missing" ? "is required" : issue.message

/**
 * The `InvalidOptionsError` for the first issue of a failed decode of
 * `input`: the option is the issue's path (`global.burstSize`) under
 * `prefix`, the value what the input holds there.
 *
 * @internal
 */
export const toInvalidOptions = (
  policy: string,
  input: unknown,
  error: ParseResult.ParseError,
  prefix: ReadonlyArray<string> = []
): InvalidOptionsError => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]!
  const path = [...prefix, ...issue.path.map(String)]
  // no path: the options themselves are not an object
  return path.length === 0
    ? invalid(policy, "options", input, "must be an object")
    : invalid(policy, path.join("."), valueAt(input, issue.path), ruleOf(issue))
}

/**
 * A decoder of `schema` failing with the `InvalidOptionsError` of its first
 * issue. Keys the schema does not know (function-valued options: hooks,
 * predicates, trip rules) pass through untouched and are not returned.
 *
 * @internal
 */
export const decoder = <A, I>(policy: string, schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first" })
  return (input: unknown): Effect.Effect<A, InvalidOptionsError> => {
    const result = decode(input)
    return Either.isRight(result)
      ? Effect.succeed(result.right)
      : Effect.fail(toInvalidOptions(policy, input, result.left))
  }
}

// ---------------------------------------------------------------------------
// rules: numbers and names
// ---------------------------------------------------------------------------

const numberRule = (holds: (n: number) => boolean, message: string) =>
  Schema.Number.pipe(Schema.filter(holds)).annotations(rule(message))

/** An integer >= 1 (a count of calls, permits, …). @internal */
export const PositiveInt = numberRule((n) => Number.isInteger(n) && n >= 1, "must be an integer >= 1")

/** An integer >= 0. @internal */
export const NonNegativeInt = numberRule((n) => Number.isInteger(n) && n >= 0, "must be an integer >= 0")

/** A finite number > 0. @internal */
export const PositiveNumber = numberRule((n) => Number.isFinite(n) && n > 0, "must be a finite number > 0")

/** A finite number >= 0. @internal */
export const NonNegativeNumber = numberRule((n) => Number.isFinite(n) && n >= 0, "must be a finite number >= 0")

/** A number in (0, 1]: a rate or a share. @internal */
export const Ratio = numberRule((n) => Number.isFinite(n) && n > 0 && n <= 1, "must be a number in (0, 1]")

/** A growth factor: a finite number >= 1. @internal */
export const Factor = numberRule((n) => Number.isFinite(n) && n >= 1, "must be a finite number >= 1")

/** An integer in [min, max] (a prefix length, a port, …). @internal */
export const intInRange = (min: number, max: number) =>
  numberRule((n) => Number.isInteger(n) && n >= min && n <= max, `must be an integer in [${min}, ${max}]`)

/**
 * A breaker's consecutive-failure threshold: an integer >= 1, or `Infinity`
 * (the rule off) in code. Configuration text has no Infinity and refuses it
 * with the same message.
 *
 * @internal
 */
export const FailureThreshold = numberRule(
  (n) => n === Number.POSITIVE_INFINITY || (Number.isInteger(n) && n >= 1),
  "must be an integer >= 1"
)

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

/**
 * A name that goes into metric labels, logs and headers as is: 1-256
 * printable ASCII characters, no leading space, no quotes or backslashes.
 *
 * @internal
 */
export const PrintableName = Schema.String.pipe(
  Schema.pattern(/^[\x21\x23-\x5b\x5d-\x7e][\x20\x21\x23-\x5b\x5d-\x7e]{0,255}$/)
).annotations(rule("must be 1-256 printable characters without quotes or backslashes"))

/** An HTTP header name (an RFC 9110 token, at most 256 characters). @internal */
export const HeaderName = Schema.String.pipe(
  Schema.filter((s) => s.length <= 256 && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s))
).annotations(rule("must be an HTTP header name (an RFC 9110 token)"))

/** @internal */
export const WindowType = Schema.Literal("count", "time").annotations(rule("must be \"count\" or \"time\""))

/** @internal */
export const Mode = Schema.Literal("fail", "wait").annotations(rule("must be \"fail\" or \"wait\""))

/** @internal */
export const JITTER_RULE = "must be one of \"full\", \"equal\", \"decorrelated\", \"none\""

/** @internal */
export const Jitter = Schema.Literal("full", "equal", "decorrelated", "none").annotations(rule(JITTER_RULE))

/** A number in [0, 1]: an injection rate, where 0 is "never". @internal */
export const Probability = numberRule((n) => Number.isFinite(n) && n >= 0 && n <= 1, "must be a number in [0, 1]")

/** A percentile in (0, 100). @internal */
export const Percentile = numberRule((n) => Number.isFinite(n) && n > 0 && n < 100, "must be a number in (0, 100)")

/** @internal */
export const Flag = Schema.Boolean.annotations(rule("must be true or false"))

/** A function (a predicate, a thunk): checked for being one, typed by TypeScript. @internal */
export const AnyFunction = Schema.declare(
  (u: unknown): u is (...args: ReadonlyArray<any>) => any => typeof u === "function"
).annotations(rule("must be a function"))

/**
 * A list of `_tag`s and error classes, or a predicate: what `Retry`'s
 * `retryOn` and `Fallback`'s `handles` accept.
 *
 * @internal
 */
export const ErrorSelector = Schema.Union(
  Schema.Array(Schema.Union(Schema.String, AnyFunction)),
  AnyFunction
).annotations(rule("must be a list of tags and error classes, or a predicate"))

// ---------------------------------------------------------------------------
// rules: durations (stated on the decoded Duration)
// ---------------------------------------------------------------------------

const durationRule = (holds: (d: Duration.Duration) => boolean, message: string) =>
  Schema.DurationFromSelf.pipe(Schema.filter(holds)).annotations(rule(message))

const millisOf = (d: Duration.Duration): number => Duration.toMillis(d)

/** A finite duration > 0. @internal */
export const PositiveDuration = durationRule(
  (d) => Duration.isFinite(d) && millisOf(d) > 0,
  "must be a finite duration > 0"
)

/** A finite duration >= 0. @internal */
export const NonNegativeDuration = durationRule((d) => Duration.isFinite(d), "must be a finite duration >= 0")

/** A duration > 0, infinite allowed (an infinite timeout is no timeout). @internal */
export const PositiveOrInfiniteDuration = durationRule((d) => millisOf(d) > 0, "must be a duration > 0")

/** A finite duration of at least one second (a window counted in seconds). @internal */
export const AtLeastOneSecond = durationRule(
  (d) => Duration.isFinite(d) && millisOf(d) >= 1000,
  "must be a finite duration of at least 1 second"
)

// ---------------------------------------------------------------------------
// the two encodings of a duration
// ---------------------------------------------------------------------------

const NEGATIVE = "must be >= 0"

/** @internal */
export const DURATION_INPUT_RULE = "must be a Duration (e.g. \"5 seconds\" or millis)"

/** @internal */
export const DURATION_TEXT_RULE = "must be a duration > 0 with a unit, e.g. \"10 seconds\", \"10s\" or \"500ms\""

const isNegative = (input: unknown): boolean =>
  (typeof input === "number" && input < 0) ||
  (typeof input === "bigint" && input < BigInt(0)) ||
  (typeof input === "string" && input.trimStart().startsWith("-")) ||
  (Array.isArray(input) && input.some((part) => typeof part === "number" && part < 0))

/**
 * What code may pass: a `Duration.DurationInput` (a bare number is millis).
 * Decodes with `Duration.decodeUnknown`, after refusing what it would
 * silently turn into zero (a negative input, NaN).
 */
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
      if (isNegative(input)) return ParseResult.fail(new ParseResult.Type(ast, input, NEGATIVE))
      const decoded = typeof input === "number" && Number.isNaN(input) ? Option.none() : Duration.decodeUnknown(input)
      return Option.isSome(decoded)
        ? ParseResult.succeed(decoded.value)
        : ParseResult.fail(new ParseResult.Type(ast, input, DURATION_INPUT_RULE))
    },
    encode: ParseResult.succeed
  }
)

// The short forms operators write in env files, spelled as `Duration.decode` reads them.
const unitAliases: Record<string, string> = {
  ms: "millis",
  milli: "millis",
  millisecond: "millis",
  milliseconds: "millis",
  s: "seconds",
  sec: "seconds",
  secs: "seconds",
  m: "minutes",
  min: "minutes",
  mins: "minutes",
  h: "hours"
}

const durationText = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i

/**
 * Reads configuration text ("10 seconds", "10s", "1.5 s", "500ms", "2 min").
 * `Duration.decode` does the reading; what stays here is only what it does
 * not accept: a unit without a space before it, short units (`ms`, `s`,
 * `min`, `h`, …), upper case and surrounding spaces. A bare number has no
 * unit and is refused (see the module header).
 *
 * @internal
 */
export const parseDuration = (input: string): Duration.Duration | undefined => {
  const match = durationText.exec(input)
  if (match === null) return undefined
  const unit = match[2]!.toLowerCase()
  return Option.getOrUndefined(Duration.decodeUnknown(`${match[1]} ${unitAliases[unit] ?? unit}`))
}

/** What configuration may hold: text with a unit, or a `Duration` given in code. */
const DurationTextEncoding = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.DurationFromSelf).annotations(rule(DURATION_TEXT_RULE)),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (Duration.isDuration(input)) return ParseResult.succeed(input)
      if (isNegative(input)) return ParseResult.fail(new ParseResult.Type(ast, input, NEGATIVE))
      const d = parseDuration(input)
      return d === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, input, DURATION_TEXT_RULE))
        : ParseResult.succeed(d)
    },
    encode: (d) => ParseResult.succeed(`${Duration.toMillis(d)} millis`)
  }
)

/** A duration option as code passes it. @internal */
export type DurationOption = Schema.Schema<Duration.Duration, Duration.DurationInput>

/** A duration setting as configuration holds it. @internal */
export type DurationSetting = Schema.Schema<Duration.Duration, string | Duration.Duration>

/** A duration rule in the code encoding. @internal */
export const durationOption = (durationRule: Schema.Schema<Duration.Duration>): DurationOption =>
  // The union above is wider than `DurationInput` only in its template-literal strings: the rule decides.
  Schema.compose(DurationInputEncoding, durationRule) as unknown as DurationOption

/** A duration rule in the configuration encoding. @internal */
export const durationSetting = (durationRule: Schema.Schema<Duration.Duration>): DurationSetting =>
  Schema.compose(DurationTextEncoding, durationRule)

/**
 * A field of an options schema as configuration holds it: a duration option
 * becomes a duration setting over the same rule (its decoded side), anything
 * else is the same schema.
 *
 * @internal
 */
export const asSetting = <S extends Schema.Schema.Any>(
  schema: S
): S extends DurationOption ? DurationSetting : S => {
  const ast = schema.ast
  return (AST.isTransformation(ast) && ast.from === DurationInputEncoding.ast
    ? durationSetting(Schema.typeSchema(schema as unknown as DurationOption))
    : schema) as any
}

// ---------------------------------------------------------------------------
// options schemas
// ---------------------------------------------------------------------------

const optionalDuration = (durationRule: Schema.Schema<Duration.Duration>) =>
  Schema.optional(durationOption(durationRule))

// `max` (or its default when unset, named as such) no shorter than `base`.
const maxAtLeast = (
  max: Duration.Duration | undefined,
  maxDefault: Duration.Duration | undefined,
  base: Duration.Duration,
  maxKey: string,
  baseKey: string
): Array<Schema.FilterIssue> => {
  const effective = max ?? maxDefault
  if (effective === undefined || !Duration.lessThan(effective, base)) return []
  const unset = max === undefined ? `; unset, it defaults to ${Duration.format(effective)}` : ""
  return [{ path: [maxKey], message: `must be >= ${baseKey} (${Duration.format(base)})${unset}` }]
}

/** @internal */
export const MAX_COUNT_WINDOW = 1_000_000
/** @internal */
export const MAX_TIME_WINDOW = 86_400

/**
 * The rules between a breaker's fields, defaults applied: a window within
 * its bound, a count window no smaller than `minimumCalls`, `maxResetTimeout`
 * no shorter than `resetTimeout`. Shared by the options and the profiles.
 *
 * @internal
 */
export const circuitBreakerChecks = (b: {
  readonly windowType?: "count" | "time" | undefined
  readonly windowSize?: number | undefined
  readonly minimumCalls?: number | undefined
  readonly resetTimeout?: Duration.Duration | undefined
  readonly maxResetTimeout?: Duration.Duration | undefined
}): Array<Schema.FilterIssue> => {
  const isCount = (b.windowType ?? "count") === "count"
  const maxWindow = isCount ? MAX_COUNT_WINDOW : MAX_TIME_WINDOW
  if (b.windowSize !== undefined && b.windowSize > maxWindow) {
    return [{ path: ["windowSize"], message: `must be at most ${maxWindow} ${isCount ? "calls" : "seconds"}` }]
  }
  if (isCount && b.minimumCalls !== undefined && b.minimumCalls > (b.windowSize ?? 100)) {
    return [{ path: ["minimumCalls"], message: "must be <= windowSize for a count window" }]
  }
  // an unset maxResetTimeout defaults to at least resetTimeout: nothing to check
  return maxAtLeast(
    b.maxResetTimeout,
    undefined,
    b.resetTimeout ?? Duration.seconds(30),
    "maxResetTimeout",
    "resetTimeout"
  )
}

/** The data options of `CircuitBreaker.make` (trip rules and hooks are typed by TypeScript). @internal */
export const CircuitBreakerOptions = Schema.Struct({
  service: Name,
  resource: Name,
  failureThreshold: Schema.optional(FailureThreshold),
  failureRateThreshold: Schema.optional(Ratio),
  slowCallRateThreshold: Schema.optional(Ratio),
  slowCallDuration: optionalDuration(PositiveDuration),
  windowType: Schema.optional(WindowType),
  windowSize: Schema.optional(PositiveInt),
  minimumCalls: Schema.optional(PositiveInt),
  resetTimeout: optionalDuration(PositiveDuration),
  resetBackoffFactor: Schema.optional(Factor),
  maxResetTimeout: optionalDuration(PositiveDuration),
  halfOpenMaxProbes: Schema.optional(PositiveInt),
  successThreshold: Schema.optional(PositiveInt)
}).pipe(Schema.filter(circuitBreakerChecks))

const retryCommonFields = {
  maxDelay: optionalDuration(PositiveDuration),
  maxRetryAfter: optionalDuration(NonNegativeDuration),
  service: Schema.optional(Name),
  operation: Schema.optional(Name)
}

/** `maxDelay` no shorter than `baseDelay`, defaults applied. @internal */
export const retryChecks = (r: {
  readonly baseDelay?: Duration.Duration | undefined
  readonly maxDelay?: Duration.Duration | undefined
}): Array<Schema.FilterIssue> =>
  maxAtLeast(r.maxDelay, Duration.seconds(60), r.baseDelay ?? Duration.seconds(1), "maxDelay", "baseDelay")

/** The data options of `Retry.exponential` (`retryOn`, `budget` and `onRetry` are typed by TypeScript). @internal */
export const RetryOptions = Schema.Struct({
  maxRetries: Schema.optional(NonNegativeInt),
  baseDelay: optionalDuration(PositiveDuration),
  factor: Schema.optional(Factor),
  jitter: Schema.optional(Jitter),
  ...retryCommonFields
}).pipe(Schema.filter(retryChecks))

/** The data options of `Retry.constant`. @internal */
export const RetryConstantOptions = Schema.Struct({
  maxRetries: Schema.optional(NonNegativeInt),
  ...retryCommonFields
})

/** @internal */
export const BulkheadOptions = Schema.Struct({
  name: Name,
  maxConcurrent: Schema.optional(PositiveInt),
  maxWaiting: Schema.optional(NonNegativeInt),
  acquireTimeout: optionalDuration(PositiveOrInfiniteDuration)
})

/** @internal */
export const TimeoutOptions = Schema.Struct({
  duration: durationOption(PositiveDuration),
  operation: Schema.optional(Name)
})

/** `cost` no larger than the smallest burst size, defaults applied. @internal */
export const maxCostOf = (r: {
  readonly tokensPerSecond: number
  readonly burstSize?: number | undefined
  readonly global?: { readonly tokensPerSecond: number; readonly burstSize?: number | undefined } | undefined
}): number => {
  const burst = r.burstSize ?? Math.max(1, Math.ceil(r.tokensPerSecond))
  return r.global === undefined
    ? burst
    : Math.min(burst, r.global.burstSize ?? Math.max(1, Math.ceil(r.global.tokensPerSecond)))
}

/** The data options of `RateLimiter.make`. @internal */
export const RateLimiterOptions = Schema.Struct({
  name: Name,
  tokensPerSecond: PositiveNumber,
  burstSize: Schema.optional(PositiveInt),
  cost: Schema.optional(PositiveNumber),
  global: Schema.optional(Schema.Struct({ tokensPerSecond: PositiveNumber, burstSize: Schema.optional(PositiveInt) })),
  mode: Schema.optional(Mode),
  maxWait: optionalDuration(PositiveDuration)
}).pipe(Schema.filter((r) => {
  const maxCost = maxCostOf(r)
  return r.cost !== undefined && r.cost > maxCost
    ? { path: ["cost"], message: `must be <= burstSize (${maxCost}), or no call is ever admitted` }
    : undefined
}))

/** @internal */
export const RetryBudgetOptions = Schema.Struct({
  ratio: Schema.optional(Ratio),
  minRetriesPerSecond: Schema.optional(NonNegativeNumber),
  window: optionalDuration(AtLeastOneSecond)
})

// ---------------------------------------------------------------------------
// profiles: the options schemas' fields as configuration holds them
// ---------------------------------------------------------------------------

/** The value schema of a struct field (an optional field's inner schema). @internal */
export type ValueOf<P> = P extends Schema.optional<infer S> ? S : P extends Schema.Schema.Any ? P : never

/** @internal */
export type AsSetting<S> = S extends DurationOption ? DurationSetting : S

const valueOf = (field: unknown): Schema.Schema.Any =>
  Schema.isSchema(field) ? field : (field as { readonly from: Schema.Schema.Any }).from

/**
 * A field of an options struct as a required setting (a duration in the
 * configuration encoding, over the same rule).
 *
 * @internal
 */
export const setting = <P>(field: P): AsSetting<ValueOf<P>> => asSetting(valueOf(field)) as AsSetting<ValueOf<P>>

/**
 * Every field of an options struct but `omit` (names and what a profile does
 * not set) as an optional setting: what a policy adds to its options schema
 * appears in the profiles, in `RESILIENCE_CONFIG_JSON` and in the
 * environment without a second list.
 *
 * @internal
 */
export const optionalSettings = <F extends Schema.Struct.Fields, K extends keyof F>(
  fields: F,
  omit: ReadonlyArray<K>
): { readonly [P in Exclude<keyof F, K>]: Schema.optionalWith<AsSetting<ValueOf<F[P]>>, { exact: true }> } => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(fields)) {
    if (omit.includes(key as K)) continue
    out[key] = Schema.optionalWith(asSetting(valueOf(fields[key])), { exact: true })
  }
  return out as any
}

/**
 * Retry jitter as configuration holds it: the rule of `Jitter`, plus the
 * seeds' `true` / `false` for `"full"` / `"none"`.
 *
 * @internal
 */
export const JitterSetting: Schema.Schema<
  "full" | "equal" | "decorrelated" | "none",
  "full" | "equal" | "decorrelated" | "none" | boolean
> = Schema.transform(
  Schema.Union(Jitter, Schema.Boolean).annotations(rule(`${JITTER_RULE} (or true / false)`)),
  Jitter,
  {
    strict: true,
    decode: (input) => input === true ? "full" as const : input === false ? "none" as const : input,
    encode: (jitter) => jitter
  }
)

/** The open-period and half-open options of `CircuitBreakerMachine.config`: the breaker's own fields and rules. @internal */
export const MachineOptions = CircuitBreakerOptions.from.pick(
  "resetTimeout",
  "resetBackoffFactor",
  "maxResetTimeout",
  "halfOpenMaxProbes",
  "successThreshold"
).pipe(Schema.filter(circuitBreakerChecks))

/**
 * The fleet options of `SharedCircuitBreaker.make` (on top of the breaker's
 * own): the instance's id, the quorum, the batching of reports, the store's
 * time budget and the entries' time to live.
 *
 * @internal
 */
export const SharedCircuitBreakerOptions = Schema.Struct({
  instanceId: Schema.optional(PrintableName),
  quorum: Schema.optional(Schema.Struct({
    instances: Schema.optional(intInRange(1, 1000)),
    window: optionalDuration(PositiveDuration)
  })),
  report: Schema.optional(Schema.Struct({
    maxBatch: Schema.optional(intInRange(1, 10_000)),
    interval: optionalDuration(PositiveDuration),
    maxBuffer: Schema.optional(intInRange(1, 1_000_000))
  })),
  storeTimeout: optionalDuration(PositiveDuration),
  ttl: optionalDuration(PositiveDuration),
  probeLease: optionalDuration(PositiveDuration)
})
