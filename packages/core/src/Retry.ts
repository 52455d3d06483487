/**
 * Retry: run a failed call again after a delay, for failures that are worth
 * another try (a dropped connection, a 503, a timeout, a 429).
 *
 * Reach for it around calls to a dependency that fails transiently. Three
 * shapes: `Retry.exponential` (the default: exponential backoff with jitter),
 * `Retry.constant` and `Retry.fromSchedule` (any Effect `Schedule`). Each
 * one is an Effect `Schedule` built from Schedule combinators (its
 * `schedule`; `Retry.schedule(options)` for the exponential one), usable on
 * its own with `Effect.retry`, and a policy that drives that schedule after a
 * failure. All of them:
 *
 * - retry only the errors `retryOn` selects (a list of tags and error
 *   classes, or a predicate; a class matches its subclasses too).
 *   By default every failure is retried **except** `CircuitOpenError` (an open
 *   breaker must not be hammered: it already said when to come back),
 *   `BulkheadRejectedError` (retrying into a full bulkhead adds load where
 *   there is none to spare) and `InvalidOptionsError` (it will never succeed).
 *   `TimeoutError` and `RateLimitedError` are retried. Other errors fail at once
 *   with the original error; defects and interruptions are never retried;
 * - honour a `retryAfter` the error carries (`ResilienceError.retryAfterOf`:
 *   an HTTP `Retry-After`, a rate limiter's wait): the delay is
 *   `max(computed, retryAfter)`, never sooner than the server asked; when
 *   `retryAfter` exceeds `maxRetryAfter` (by default `maxDelay`) the original
 *   error is returned at once;
 * - take each retry from a shared `RetryBudget` when one is given, and give
 *   up (original error) when the budget is spent;
 * - log one structured line per retry at Debug (`service`, `operation`,
 *   `attempt`, `delayMillis`, `errorTag`: during an outage every call
 *   retries, and a warning per retry would flood the logs) and a warning
 *   when giving up (plus `reason`), at most one per policy every 10 s (the
 *   give-ups in between at Debug, counted in the next warning's
 *   `quietGiveUpsSinceLastWarning`), and
 *   count them in the metrics `resilience_retry_attempts_total`,
 *   `resilience_retry_give_ups_total` and the histogram
 *   `resilience_retry_delay_seconds` (labels: `Observability`), and record
 *   them as `resilience.retry` / `resilience.retry.give_up` events on the
 *   current span.
 *
 * A `Retry` never adds an error: the caller sees the last error of the call.
 * Synchronous and promise-returning functions are retried the same way once
 * lifted with `Effect.try` / `Effect.tryPromise` (see `examples/retry.ts`).
 *
 * Delays are drawn from Effect's `Random` service and slept on its `Clock`,
 * so `TestRandom` / `Random.make(seed)` and `TestClock` make them
 * deterministic: `Effect.retry(self, retry.schedule)` and `retry.execute(self)`
 * wait the same delays. The policy's success path is a bare
 * `Effect.catchAll`: no Schedule stepped, no random draw, no clock read
 * (except one per call to count it in a budget). The budget, the log lines
 * and the metrics are the policy's alone.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/retry.js"
import type { RetryBudgetImpl } from "./internal/retryBudget.js"
import * as validate from "./internal/validate.js"
import type { InvalidOptionsError } from "./ResilienceError.js"
import { tagOf } from "./ResilienceError.js"
import { isRetryBudget } from "./RetryBudget.js"
import type { RetryBudget } from "./RetryBudget.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * How a delay is randomised. With `d = min(maxDelay, baseDelay × factor^(n-1))`
 * for retry `n`:
 *
 * - `"full"`: uniform in [0, d] (AWS "full jitter": the best spread);
 * - `"equal"`: d/2 + uniform in [0, d/2] (never shorter than half);
 * - `"decorrelated"`: min(maxDelay, uniform in [baseDelay, previous × 3]),
 *   AWS "decorrelated jitter" (ignores `factor`);
 * - `"none"`: exactly d.
 *
 * @since 0.1.0
 * @category models
 */
export type Jitter = "full" | "equal" | "decorrelated" | "none"

/**
 * An error class for `retryOn`: an error is selected when it is an
 * `instanceof` it, so its subclasses are selected too.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorClass = abstract new(...args: ReadonlyArray<any>) => unknown

/**
 * Which errors are retried: a list of tags (matched with
 * `ResilienceError.tagOf`: the `_tag`, or an `Error`'s `name`) and error
 * classes (matched with `instanceof`: subclasses count), or a predicate.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { Schema } from "effect"
 *
 * class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {}) {}
 *
 * // the tag "TimeoutError", and ConnectionError with every subclass of it
 * const retry = Retry.exponential({ retryOn: ["TimeoutError", ConnectionError] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type RetryOn = ReadonlyArray<string | ErrorClass> | ((error: unknown) => boolean)

/**
 * Options every retry shape shares.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions {
  /**
   * Which errors to retry.
   * @default every error except CircuitOpenError, BulkheadRejectedError and InvalidOptionsError
   */
  readonly retryOn?: RetryOn | undefined
  /**
   * The longest delay before a retry: computed delays are capped to it, and a
   * `retryAfter` beyond it makes Retry give up at once. For `fromSchedule`,
   * only the `retryAfter` rule applies (the schedule owns its delays).
   * @default "60 seconds"
   */
  readonly maxDelay?: Duration.DurationInput | undefined
  /**
   * The longest `retryAfter` waited for: an error asking for longer is
   * returned at once (waiting less than the server asked is pointless).
   * Set it above `maxDelay` when servers may ask for longer waits than your
   * own backoff ever makes.
   * @default maxDelay
   */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /**
   * The budget each retry is taken from (share one per service).
   * @default undefined (no budget)
   */
  readonly budget?: RetryBudget | undefined
  /**
   * Called before each retry's delay (once the budget allowed the retry),
   * with the failed attempt's number (1-based), its error and the delay: for
   * metrics or events of your own. The retry waits for it.
   * @default undefined
   */
  readonly onRetry?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
  /**
   * The service called, for logs and metrics.
   * @default "unknown"
   */
  readonly service?: string | undefined
  /**
   * The operation called, for logs and metrics.
   * @default "unknown"
   */
  readonly operation?: string | undefined
}

/**
 * A retry about to happen, as `onRetry` sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryEvent {
  /** The failed attempt (1-based): the retry is attempt `attempt + 1`. */
  readonly attempt: number
  readonly error: unknown
  /** How long the retry waits. */
  readonly delay: Duration.Duration
}

/**
 * Options of `Retry.exponential` (and `Retry.make`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {
  /**
   * Retries after the first attempt (an integer >= 0; 0: the call is made
   * once and its error returned).
   * @default 3
   */
  readonly maxRetries?: number | undefined
  /**
   * The delay before the first retry, before jitter (> 0, <= maxDelay).
   * @default "1 second"
   */
  readonly baseDelay?: Duration.DurationInput | undefined
  /**
   * Growth of the delay per retry (a finite number >= 1).
   * @default 2
   */
  readonly factor?: number | undefined
  /**
   * How delays are randomised.
   * @default "full"
   */
  readonly jitter?: Jitter | undefined
}

/**
 * Options of `Retry.constant`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConstantOptions extends CommonOptions {
  /**
   * Retries after the first attempt (an integer >= 0; 0: the call is made
   * once and its error returned).
   * @default 3
   */
  readonly maxRetries?: number | undefined
}

/**
 * A retry policy. `execute` runs an effect and retries its failures; the
 * error type is unchanged (the caller sees the last error).
 *
 * @since 0.1.0
 * @category models
 */
export interface Retry {
  readonly service: string
  readonly operation: string
  /**
   * The schedule this policy drives after a failure (its delays, `retryOn`
   * and Retry-After rules; not the budget, logs or metrics), to use with
   * `Effect.retry` directly.
   */
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * The default `retryOn`: every error except `CircuitOpenError`,
 * `BulkheadRejectedError` and `InvalidOptionsError`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const defaultRetryOn = (error: unknown): boolean => !neverRetried.has(tagOf(error))

const neverRetried = new Set(["CircuitOpenError", "BulkheadRejectedError", "InvalidOptionsError"])

/**
 * The data rules of `Options` (`Retry.exponential`, `Retry.make`,
 * `Retry.schedule`), the single source of their validation and of
 * `ResilienceConfig`'s retry settings: `maxRetries` an integer >= 0, `factor`
 * a finite number >= 1, `jitter` one of the four, `baseDelay` / `maxDelay`
 * finite durations > 0 with `maxDelay` >= `baseDelay`, `maxRetryAfter` a
 * finite duration >= 0 (`Duration.DurationInput`: bare numbers are millis),
 * `service` / `operation` names of at most 256 printable characters.
 * `retryOn`, `budget` and `onRetry` are typed by TypeScript. The first issue
 * is reported as an `InvalidOptionsError` naming the option.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<
  Schema.Schema.Type<typeof schemas.RetryOptions>,
  Omit<Options, "retryOn" | "budget" | "onRetry">
> = schemas.RetryOptions

/**
 * The data rules of `ConstantOptions` (`Retry.constant`; `Retry.fromSchedule`
 * uses them without `maxRetries`): those of `OptionsSchema` that apply.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ConstantOptionsSchema: Schema.Schema<
  Schema.Schema.Type<typeof schemas.RetryConstantOptions>,
  Omit<ConstantOptions, "retryOn" | "budget" | "onRetry">
> = schemas.RetryConstantOptions

/**
 * The delay in milliseconds before retry number `attempt` (1-based) of an
 * exponential policy, given the previous delay (`baseDelayMillis` for the
 * first retry; decorrelated jitter uses it) and a uniform draw `random` in
 * [0, 1). Pure: it is what `Retry.exponential` computes, exposed so that the
 * numbers can be checked and plotted. The result never exceeds
 * `maxDelayMillis`.
 *
 * @since 0.1.0
 * @category utils
 */
export const delayFor: (
  params: {
    readonly baseDelayMillis: number
    readonly maxDelayMillis: number
    readonly factor: number
    readonly jitter: Jitter
  },
  attempt: number,
  previousDelayMillis: number,
  random: number
) => number = internal.delayFor

const decodeOptions = schemas.decoder("Retry", OptionsSchema)
const decodeConstantOptions = schemas.decoder("Retry", ConstantOptionsSchema)

// What the options schema leaves to TypeScript, checked for JavaScript callers; then the decoded data with defaults.
const common = (
  policy: string,
  options: CommonOptions,
  decoded: Schema.Schema.Type<typeof schemas.RetryConstantOptions>
) =>
  Effect.gen(function*() {
    const maxDelay = decoded.maxDelay ?? Duration.seconds(60)
    const maxRetryAfter = decoded.maxRetryAfter ?? maxDelay
    const retryOn = options.retryOn
    let predicate: (error: unknown) => boolean = defaultRetryOn
    if (typeof retryOn === "function") {
      predicate = retryOn
    } else if (internal.isRetryOnList(retryOn)) {
      predicate = internal.matchAny(retryOn)
    } else if (retryOn !== undefined) {
      return yield* validate.fail(
        policy,
        "retryOn",
        retryOn,
        "must be a list of error tags and error classes, or a predicate"
      )
    }
    if (options.onRetry !== undefined && typeof options.onRetry !== "function") {
      return yield* validate.fail(policy, "onRetry", options.onRetry, "must be a function")
    }
    if (options.budget !== undefined && !isRetryBudget(options.budget)) {
      return yield* validate.fail(policy, "budget", "<not a RetryBudget>", "must be made by RetryBudget.make")
    }
    return {
      maxDelayMillis: Duration.toMillis(maxDelay),
      maxRetryAfterMillis: Duration.toMillis(maxRetryAfter),
      onRetry: options.onRetry,
      retryOn: predicate,
      budget: options.budget as RetryBudgetImpl | undefined,
      service: decoded.service ?? "unknown",
      operation: decoded.operation ?? "unknown"
    }
  })

type Common = Effect.Effect.Success<ReturnType<typeof common>>

const build = (
  c: Common,
  delays: Schedule.Schedule<unknown, unknown>,
  maxRetries: number | undefined
): Retry => {
  const schedule = internal.guard(delays, c.retryOn, c.maxRetryAfterMillis)
  return {
    service: c.service,
    operation: c.operation,
    schedule,
    execute: internal.makeExecute({ ...c, schedule, maxRetries })
  }
}

const exponentialParts = (options: Options) =>
  Effect.gen(function*() {
    const decoded = yield* decodeOptions(options)
    const c = yield* common("Retry", options, decoded)
    const maxRetries = decoded.maxRetries ?? 3
    const baseDelayMillis = Duration.toMillis(decoded.baseDelay ?? Duration.seconds(1))
    const factor = decoded.factor ?? 2
    const jitter = decoded.jitter ?? "full"
    const delays = internal.bounded({ baseDelayMillis, maxDelayMillis: c.maxDelayMillis, factor, jitter }, maxRetries)
    return { c, delays, maxRetries }
  })

/**
 * Exponential backoff with jitter: retry `n` waits
 * `min(maxDelay, baseDelay × factor^(n-1))`, randomised by `jitter`.
 * Defaults: 3 retries, base 1 s, max 60 s, factor 2, full jitter.
 *
 * Fails with `InvalidOptionsError` naming the option when an option is zero,
 * negative, NaN, of the wrong kind, or when `maxDelay < baseDelay`.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const retry = yield* Retry.exponential({ service: "broker_api", operation: "getAccount", maxDelay: "30 seconds" })
 *   return yield* retry.execute(Effect.succeed("account"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exponential = (options: Options = {}): Effect.Effect<Retry, InvalidOptionsError> =>
  Effect.map(exponentialParts(options), ({ c, delays, maxRetries }) => build(c, delays, maxRetries))

/**
 * `Retry.exponential`: the default retry policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Retry, InvalidOptionsError> = exponential

/**
 * The schedule `Retry.exponential(options)` drives, for `Effect.retry`,
 * `Effect.repeat` or your own combinators: the same delays from the same
 * draws of `Random`, at most `maxRetries` retries, and, through the
 * schedule's input (the error), the same choices: it stops on an error
 * `retryOn` does not select or whose `retryAfter` exceeds `maxRetryAfter`, and
 * waits at least the `retryAfter` an error carries.
 *
 * What only the policy adds: the `budget` and `onRetry` (ignored here), the
 * log lines and the metrics. Options are validated as `Retry.exponential`'s are.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { Data, Effect } from "effect"
 *
 * class ConnectionError extends Data.TaggedError("ConnectionError")<{}> {}
 * declare const fetchQuote: Effect.Effect<number, ConnectionError>
 *
 * const program = Effect.gen(function*() {
 *   const schedule = yield* Retry.schedule({ maxRetries: 5, baseDelay: "200 millis", jitter: "equal" })
 *   return yield* Effect.retry(fetchQuote, schedule)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (
  options: Options = {}
): Effect.Effect<Schedule.Schedule<unknown, unknown>, InvalidOptionsError> =>
  Effect.map(exponentialParts(options), ({ c, delays }) => internal.guard(delays, c.retryOn, c.maxRetryAfterMillis))

/**
 * The same delay before every retry (no jitter). `delay` must be > 0 and
 * <= `maxDelay`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const constant = (
  delay: Duration.DurationInput,
  options: ConstantOptions = {}
): Effect.Effect<Retry, InvalidOptionsError> =>
  Effect.gen(function*() {
    const policy = "Retry"
    const decoded = yield* decodeConstantOptions(options)
    const c = yield* common(policy, options, decoded)
    const maxRetries = decoded.maxRetries ?? 3
    const d = yield* validate.duration(policy, "delay", delay, delay)
    const millis = Duration.toMillis(d)
    if (millis > c.maxDelayMillis) {
      return yield* validate.fail(policy, "delay", delay, "must be <= maxDelay")
    }
    const spaced = Schedule.intersect(Schedule.spaced(Duration.millis(Math.ceil(millis))), Schedule.recurs(maxRetries))
    return build(c, spaced, maxRetries)
  })

/**
 * Retries on any Effect `Schedule`: the schedule's own recurrence decides how
 * many retries and how long each waits (so there is no `maxRetries` here:
 * bound it with `Schedule.intersect(Schedule.recurs(n))` or
 * `Schedule.upTo`). The schedule receives each error as its input.
 * `retryOn`, `budget`, `retryAfter` (against `maxRetryAfter`) and the logs and
 * metrics apply as for the other shapes.
 *
 * The schedule is stepped only after a failure: its state lives in the retry
 * loop of that call, never on the success path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSchedule = <Out>(
  schedule: Schedule.Schedule<Out, unknown>,
  options: CommonOptions = {}
): Effect.Effect<Retry, InvalidOptionsError> =>
  Effect.map(
    Effect.flatMap(decodeConstantOptions(options), (decoded) => common("Retry", options, decoded)),
    (c) => build(c, schedule, undefined)
  )

/**
 * Runs an effect under a retry policy: `Retry.withRetry(effect, retry)` or
 * `effect.pipe(Retry.withRetry(retry))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRetry: {
  (retry: Retry): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry): Effect.Effect<A, E, R> => retry.execute(self))
