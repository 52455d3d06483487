/**
 * An adaptive bulkhead: a `Bulkhead` whose limit follows the latency and the
 * drops it measures, within `[minLimit, maxLimit]`, instead of a fixed
 * `maxConcurrent` that is a guess about the upstream's capacity. Reach for it
 * where that capacity changes (a provider under load, a server whose
 * dependencies slow down) and a fixed number is either too small on a good
 * day or too large on a bad one.
 *
 * - The algorithm is a value (`AdaptiveLimit.aimd()`, `gradient2()`,
 *   `vegas()`: ports of Netflix's concurrency-limits, its defaults ours).
 *   Default: Vegas, as Netflix's limiters.
 * - Every call through `execute` (or `Bulkhead.withPermit`, `Policy.stack`,
 *   `withResilience`) is a sample: how long it held its permit (on the
 *   fiber's `Clock`, so `TestClock` drives it in tests), how many permits
 *   were held when it started, and whether it was dropped (`isDrop`: by
 *   default a `TimeoutError`). An interrupted call is no sample, nor is a
 *   call this bulkhead rejected (the limit must not shrink because the
 *   bulkhead is doing its job).
 * - The limit is the bulkhead's permit count. Raising it serves the queue at
 *   once; lowering it takes effect as running calls finish: no permit is taken
 *   back from a holder, none is lost.
 *
 * Everything else is the `Bulkhead`'s: an `Effect.Semaphore` (its methods
 * share the permits but are not sampled), the FIFO queue bounded by
 * `maxWaiting`, the acquire timeout, `BulkheadRejectedError`, the
 * `resilience_bulkhead_*` metrics. `resize(n)` sets the limit (clamped to the
 * bounds) and the algorithm goes on from there.
 *
 * Metrics: the gauge `resilience_adaptive_limit` (labelled `policy="bulkhead"`,
 * `service` = the name, `operation=""`, `algorithm`). A change of the limit
 * by 10% or more since the last one reported is recorded as the span event
 * `resilience.bulkhead.limit_changed` and logged at debug level; smaller
 * steps are not news.
 *
 * @example
 * ```ts
 * import { AdaptiveBulkhead, AdaptiveLimit, Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* AdaptiveBulkhead.make({
 *     name: "quotes",
 *     algorithm: AdaptiveLimit.gradient2(),
 *     minLimit: 2,
 *     maxLimit: 100,
 *     initialLimit: 10
 *   })
 *   // usable wherever a Bulkhead is
 *   const quote = yield* Effect.succeed(101.5).pipe(Bulkhead.withPermit(bulkhead))
 *   return [quote, bulkhead.limit]
 * })
 * ```
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as AdaptiveLimit from "./AdaptiveLimit.js"
import type * as Bulkhead from "./Bulkhead.js"
import * as internal from "./internal/adaptiveBulkhead.js"
import * as schemas from "./internal/options.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

/**
 * How an adaptive bulkhead is built. Validated once by `make`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Identifies the bulkhead in errors, stats, logs and metrics. */
  readonly name: string
  /**
   * How the limit moves: `AdaptiveLimit.aimd()`, `gradient2()` or `vegas()`.
   *
   * @default AdaptiveLimit.vegas()
   */
  readonly algorithm?: AdaptiveLimit.Algorithm | undefined
  /**
   * The lowest the limit goes: an integer >= 1.
   *
   * @default the algorithm's (Netflix's): 20 for AIMD and Gradient2, 1 for Vegas
   */
  readonly minLimit?: number | undefined
  /**
   * The highest the limit goes: an integer >= minLimit.
   *
   * @default the algorithm's (Netflix's): 200 for AIMD and Gradient2, 1000 for Vegas
   */
  readonly maxLimit?: number | undefined
  /**
   * The limit to start from: an integer in [minLimit, maxLimit].
   *
   * @default 20 (Netflix's), clamped to the bounds
   */
  readonly initialLimit?: number | undefined
  /**
   * How many calls may wait for a permit; the next is rejected with `reason: "full"`. An integer >= 0.
   *
   * @default initialLimit
   */
  readonly maxWaiting?: number | undefined
  /**
   * How long a queued call waits before it fails with `reason: "timeout"`. A duration > 0.
   *
   * @default none: wait as long as needed
   */
  readonly acquireTimeout?: Duration.DurationInput | undefined
  /**
   * How samples reach the algorithm. By default, by window (Netflix's
   * `WindowedLimit`): calls are gathered for max(2 × the window's shortest
   * round trip, `minTime`), at most `maxTime`, and the algorithm gets one
   * sample per window of at least `minSamples` calls (their average round
   * trip, the most permits held, any drop). `false`: one update per call, as
   * Netflix's algorithms do alone; they then grow the limit many times within
   * one round trip, before the latency that growth causes is seen, and swing
   * or overshoot (the core README has the queueing-model figures).
   *
   * @default { minTime: "1 second", maxTime: "1 second", minSamples: 10 }
   */
  readonly window?: false | {
    readonly minTime?: Duration.DurationInput | undefined
    readonly maxTime?: Duration.DurationInput | undefined
    readonly minSamples?: number | undefined
  } | undefined
  /**
   * Which failures are drops (the upstream is overloaded): AIMD backs off on
   * them, Vegas shrinks; Gradient2 sees only their round trip.
   *
   * @default a `TimeoutError` (by its tag)
   */
  readonly isDrop?: ((error: unknown) => boolean) | undefined
}

/**
 * A bulkhead's stats, plus the algorithm and the bounds. `maxConcurrent` is the current limit.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stats extends Bulkhead.Stats {
  readonly algorithm: AdaptiveLimit.Algorithm["_tag"]
  readonly minLimit: number
  readonly maxLimit: number
}

/**
 * An adaptive bulkhead: a `Bulkhead` (and so an `Effect.Semaphore`) whose
 * `maxConcurrent` is the algorithm's current limit.
 *
 * @since 0.2.0
 * @category models
 */
export interface AdaptiveBulkhead extends Bulkhead.Bulkhead {
  readonly algorithm: AdaptiveLimit.Algorithm
  readonly minLimit: number
  readonly maxLimit: number
  /** The current limit (the same as `maxConcurrent`). */
  readonly limit: number
  readonly stats: Effect.Effect<Stats>
  readonly unsafeStats: () => Stats
  /** The algorithm's state now (its limit, and what it has learned). Only reads. */
  readonly unsafeState: () => AdaptiveLimit.State
}

/**
 * The data rules of `Options` (all but `isDrop`): `name` as a bulkhead's,
 * `algorithm` one of the three values with its parameters in range
 * (AIMD `backoffRatio` in [0.5, 1), `timeoutMillis` > 0; Gradient2
 * `smoothing` in (0, 1], `queueSize` >= 0, `longWindow` >= 1,
 * `rttTolerance` >= 1; Vegas `smoothing` in (0, 1], `probeMultiplier` >= 1),
 * the limits integers >= 1, `maxWaiting` >= 0, `acquireTimeout` > 0. `make`
 * also checks `minLimit <= initialLimit <= maxLimit`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<
  Schema.Schema.Type<typeof schemas.AdaptiveBulkheadOptions>,
  Schema.Schema.Encoded<typeof schemas.AdaptiveBulkheadOptions>
> = schemas.AdaptiveBulkheadOptions

/**
 * Builds an adaptive bulkhead. Fails with `InvalidOptionsError` naming the
 * option when one breaks its rule (see `OptionsSchema`), or when the bounds
 * are out of order.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<AdaptiveBulkhead, InvalidOptionsError> = internal.make
