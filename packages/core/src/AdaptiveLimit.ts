/**
 * The algorithms an adaptive concurrency limit follows, as values, and their
 * update rules as pure functions `(state, sample) → state`. Reach for the
 * values (`aimd`, `gradient2`, `vegas`) to configure an `AdaptiveBulkhead`;
 * reach for `initial` / `update` to study or simulate an algorithm without
 * any Effect machinery.
 *
 * The rules are ports of Netflix's concurrency-limits
 * (`AIMDLimit.java`, `Gradient2Limit.java`, `VegasLimit.java`), with its
 * defaults:
 *
 * - **AIMD** (loss based): +1 while at least half the limit is in use,
 *   ×`backoffRatio` (0.9) on a drop or a round trip longer than `timeout`
 *   (5 s). Needs drops to find a limit: use it where the upstream times out
 *   or rejects when overloaded.
 * - **Gradient2** (latency based): compares the latest round trip to a long
 *   exponential average (600 samples), tolerating 1.5× before it shrinks;
 *   grows by a queue allowance of 4, smoothed by 0.2.
 * - **Vegas** (latency based, TCP Vegas): estimates the queue from the
 *   no-load round trip (the minimum, re-probed every ~30·limit samples) and
 *   grows while the queue is below 3·log10(limit), shrinks above 6·log10(limit).
 *
 * Every rule keeps the limit within the caller's `[minLimit, maxLimit]`.
 * Times are milliseconds here (arithmetic over a numeric clock, like
 * `CircuitBreakerMachine`); the bulkhead measures them with the fiber's Clock.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 *
 * const algorithm = AdaptiveLimit.vegas()
 * const bounds = { minLimit: 1, maxLimit: 100 }
 * let state = AdaptiveLimit.initial(algorithm, bounds, 10)
 * state = AdaptiveLimit.update(algorithm, bounds, state, { rttMillis: 20, inflight: 10, dropped: false })
 * console.log(state.limit)
 * ```
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as internal from "./internal/adaptiveLimit.js"

/**
 * AIMD: additive increase, multiplicative decrease on a drop.
 *
 * @since 0.2.0
 * @category models
 */
export interface AIMD {
  readonly _tag: "AIMD"
  /** The factor applied on a drop, in [0.5, 1). @default 0.9 */
  readonly backoffRatio?: number | undefined
  /** A round trip longer than this counts as a drop. @default 5000 (5 seconds) */
  readonly timeoutMillis?: number | undefined
}

/**
 * Gradient2: the limit follows the ratio of the long-term to the latest round trip.
 *
 * @since 0.2.0
 * @category models
 */
export interface Gradient2 {
  readonly _tag: "Gradient2"
  /** How much of each new estimate is taken, in (0, 1]. @default 0.2 */
  readonly smoothing?: number | undefined
  /** How much the limit may grow per sample while latency is low: an integer >= 0. @default 4 */
  readonly queueSize?: number | undefined
  /** The long-term average's window, in samples: an integer >= 1. @default 600 */
  readonly longWindow?: number | undefined
  /** How much slower than the long-term average a round trip may be before the limit shrinks: >= 1. @default 1.5 */
  readonly rttTolerance?: number | undefined
}

/**
 * Vegas: the limit follows the queue estimated from the no-load round trip.
 *
 * @since 0.2.0
 * @category models
 */
export interface Vegas {
  readonly _tag: "Vegas"
  /** How much of each new estimate is taken, in (0, 1]. @default 1 */
  readonly smoothing?: number | undefined
  /** The no-load round trip is re-probed every (0.5…1)·probeMultiplier·limit samples: an integer >= 1. @default 30 */
  readonly probeMultiplier?: number | undefined
  /** Seed of the probe jitter's generator (reproducible runs): an integer. @default a fixed seed */
  readonly seed?: number | undefined
}

/**
 * An algorithm, as a value: `aimd()`, `gradient2()` or `vegas()`.
 *
 * @since 0.2.0
 * @category models
 */
export type Algorithm = AIMD | Gradient2 | Vegas

/**
 * One finished call, as the algorithms see it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Sample {
  /** How long the call held its permit, in milliseconds. */
  readonly rttMillis: number
  /** How many permits were held when the call started (itself included). */
  readonly inflight: number
  /** The call was dropped: it timed out, or the upstream rejected it as overloaded. */
  readonly dropped: boolean
}

/**
 * AIMD's state: the limit.
 *
 * @since 0.2.0
 * @category models
 */
export interface AIMDState {
  readonly _tag: "AIMD"
  readonly limit: number
}

/**
 * Gradient2's state: the limit, its unrounded estimate, and the long-term round trip average.
 *
 * @since 0.2.0
 * @category models
 */
export interface Gradient2State {
  readonly _tag: "Gradient2"
  readonly limit: number
  readonly estimated: number
  readonly longRtt: { readonly value: number; readonly sum: number; readonly count: number }
}

/**
 * Vegas's state: the limit, its unrounded estimate, the no-load round trip and the probe schedule.
 *
 * @since 0.2.0
 * @category models
 */
export interface VegasState {
  readonly _tag: "Vegas"
  readonly limit: number
  readonly estimated: number
  readonly rttNoLoad: number
  readonly probeCount: number
  readonly probeJitter: number
  readonly seed: number
}

/**
 * The state of an algorithm; `limit` is the integer limit to apply.
 *
 * @since 0.2.0
 * @category models
 */
export type State = AIMDState | Gradient2State | VegasState

/**
 * The samples gathered since the last update, when the bulkhead samples by
 * window (Netflix's `WindowedLimit` with an average window).
 *
 * @since 0.2.0
 * @category models
 */
export interface Window {
  /** The window closes with the first sample ending after this instant (millis). */
  readonly nextUpdateAt: number
  readonly minRtt: number
  readonly sum: number
  readonly maxInflight: number
  readonly count: number
  readonly dropped: boolean
}

/**
 * The range the limit stays in.
 *
 * @since 0.2.0
 * @category models
 */
export interface Bounds {
  readonly minLimit: number
  readonly maxLimit: number
}

/**
 * AIMD with Netflix's defaults (backoff 0.9, timeout 5 s) unless given.
 * `AdaptiveBulkhead.make` validates the values.
 *
 * @since 0.2.0
 * @category constructors
 */
export const aimd = (options?: {
  /** @default 0.9 */
  readonly backoffRatio?: number | undefined
  /** @default "5 seconds" */
  readonly timeout?: Duration.DurationInput | undefined
}): AIMD => {
  const timeout = options?.timeout
  return {
    _tag: "AIMD",
    backoffRatio: options?.backoffRatio,
    // an input Duration cannot decode becomes NaN, which validation reports
    timeoutMillis: timeout === undefined ? undefined : decodeMillis(timeout)
  }
}

const decodeMillis = (input: Duration.DurationInput): number => {
  const decoded = Duration.decodeUnknown(input)
  return decoded._tag === "Some" ? Duration.toMillis(decoded.value) : Number.NaN
}

/**
 * Gradient2 with Netflix's defaults (smoothing 0.2, queue size 4, long window 600, tolerance 1.5) unless given.
 *
 * @since 0.2.0
 * @category constructors
 */
export const gradient2 = (options?: Omit<Gradient2, "_tag">): Gradient2 => ({ ...options, _tag: "Gradient2" })

/**
 * Vegas with Netflix's defaults (smoothing 1, probe multiplier 30) unless given.
 *
 * @since 0.2.0
 * @category constructors
 */
export const vegas = (options?: Omit<Vegas, "_tag">): Vegas => ({ ...options, _tag: "Vegas" })

/**
 * The bounds and initial limit Netflix's builder of each algorithm defaults
 * to: AIMD and Gradient2 `[20, 200]` starting at 20, Vegas `[1, 1000]`
 * starting at 20.
 *
 * @since 0.2.0
 * @category defaults
 */
export const defaultLimits: (
  algorithm: Algorithm
) => { readonly minLimit: number; readonly initialLimit: number; readonly maxLimit: number } = (algorithm) =>
  internal.defaultLimits(algorithm._tag)

/**
 * The state an algorithm starts in, at `initialLimit` (clamped to the bounds).
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial: (algorithm: Algorithm, bounds: Bounds, initialLimit: number) => State = internal.initial

/**
 * The state after one sample: the algorithm's rule, then the bounds. Pure.
 *
 * @since 0.2.0
 * @category updates
 */
export const update: (algorithm: Algorithm, bounds: Bounds, state: State, sample: Sample) => State = internal.update
