/**
 * Retry budget: a cap on how many retries a service may make, as a share of
 * its calls plus a small floor, over a sliding window (Finagle / gRPC
 * retry-throttling style).
 *
 * Reach for it whenever several callers retry against the same dependency:
 * without a budget, every caller retrying 3 times turns an outage into 4× the
 * load on the service that is already failing. With `ratio: 0.2`, retries stay
 * under 20% of calls (plus `minRetriesPerSecond` so that a quiet service can
 * still retry at all).
 *
 * Share one budget per service: pass the same instance to every `Retry` that
 * calls that service. Each `Retry.execute` records a call; each retry must
 * acquire from the budget, or it is abandoned and the original error returned.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/retryBudget.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Options of `RetryBudget.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Retries allowed per call made in the window, in (0, 1].
   * @default 0.2
   */
  readonly ratio?: number | undefined
  /**
   * Retries always allowed per second of the window, whatever the call count
   * (a finite number >= 0).
   * @default 10
   */
  readonly minRetriesPerSecond?: number | undefined
  /**
   * The sliding window, counted in whole seconds (rounded up), at least 1 s.
   * @default "10 seconds"
   */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * What a budget has counted in its current window.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** Calls recorded in the window. */
  readonly calls: number
  /** Retries granted in the window. */
  readonly retries: number
  /** `ratio × calls + minRetriesPerSecond × windowSeconds`. */
  readonly allowed: number
  /** Retries that would still be granted now. */
  readonly available: number
}

/**
 * A retry budget, shared by every `Retry` of one service.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget {
  readonly [TypeId]: TypeId
  readonly ratio: number
  readonly minRetriesPerSecond: number
  readonly window: Duration.Duration
  /** Records one call (`Retry.execute` does this for you). */
  readonly recordCall: Effect.Effect<void>
  /** Takes one retry from the budget: `false` when the budget is spent. */
  readonly tryAcquire: Effect.Effect<boolean>
  /** The counts of the current window. */
  readonly snapshot: Effect.Effect<Snapshot>
}

/**
 * Is this value a `RetryBudget`?
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryBudget = (u: unknown): u is RetryBudget => Predicate.hasProperty(u, TypeId)

/**
 * The data rules of `Options`, the single source of `make`'s validation:
 * `ratio` in (0, 1], `minRetriesPerSecond` a finite number >= 0, `window` a
 * finite duration of at least one second (a `Duration.DurationInput`: bare
 * numbers are millis). `make` reports its first issue as an
 * `InvalidOptionsError` naming the option.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<
  {
    readonly ratio?: number | undefined
    readonly minRetriesPerSecond?: number | undefined
    readonly window?: Duration.Duration | undefined
  },
  Options
> = schemas.RetryBudgetOptions

const decodeOptions = schemas.decoder("RetryBudget", OptionsSchema)

/**
 * Builds a retry budget. Fails with `InvalidOptionsError` naming the option
 * when `ratio` is outside (0, 1], `minRetriesPerSecond` is negative or not
 * finite, or `window` is not a finite duration of at least one second.
 *
 * @example
 * ```ts
 * import { Retry, RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ ratio: 0.1 })
 *   const quotes = yield* Retry.exponential({ service: "market_data", operation: "quote", budget })
 *   const bars = yield* Retry.exponential({ service: "market_data", operation: "bars", budget })
 *   return { quotes, bars }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RetryBudget, InvalidOptionsError> =>
  Effect.gen(function*() {
    const decoded = yield* decodeOptions(options)
    const ratio = decoded.ratio ?? 0.2
    const minRetriesPerSecond = decoded.minRetriesPerSecond ?? 10
    const window = decoded.window ?? Duration.seconds(10)
    const windowMillis = Duration.toMillis(window)
    const budget: RetryBudget = new internal.RetryBudgetImpl(ratio, minRetriesPerSecond, window, windowMillis)
    return budget
  })
