/**
 * The adaptive bulkhead: a `BulkheadImpl` (the permit accounting, FIFO queue,
 * acquire timeout and rejections, unchanged) whose limit is moved by an
 * `AdaptiveLimit` algorithm after every call through `execute`. The limit is
 * the inner bulkhead's permit count: raising it serves the queue at once,
 * lowering it takes effect as running calls return their permits, so no
 * permit is ever taken back from a holder or lost.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as AdaptiveBulkhead from "../AdaptiveBulkhead.js"
import type * as AdaptiveLimit from "../AdaptiveLimit.js"
import type { BulkheadRejectedError, InvalidOptionsError } from "../ResilienceError.js"
import { tagOf } from "../ResilienceError.js"
import * as limits from "./adaptiveLimit.js"
import { BulkheadImpl } from "./bulkhead.js"
import * as options from "./options.js"
import * as T from "./telemetry.js"
import * as validate from "./validate.js"

const POLICY = "AdaptiveBulkhead"

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

/** The default drop: a call that timed out (core's `Timeout`, or any error tagged `TimeoutError`). @internal */
export const defaultIsDrop = (error: unknown): boolean => tagOf(error) === "TimeoutError"

/**
 * The Clock's time in fractional milliseconds, from its nanoseconds: an
 * upstream answering in under a millisecond still has a round trip (the
 * millisecond clock would report 0, which the algorithms ignore).
 */
const nowMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1_000_000

/** The limit with `limit` set, keeping what the algorithm learned (its averages, its probe schedule). */
const withLimit = (state: AdaptiveLimit.State, limit: number): AdaptiveLimit.State =>
  state._tag === "AIMD" ? { _tag: "AIMD", limit } : { ...state, limit, estimated: limit }

/** @internal */
export class AdaptiveBulkheadImpl implements AdaptiveBulkhead.AdaptiveBulkhead {
  state: AdaptiveLimit.State
  /** The limit last reported on a span and in the log: changes smaller than 10% of it are not news. */
  announced: number
  /** The samples since the last update, when sampling by window. */
  window: AdaptiveLimit.Window
  readonly bounds: limits.Bounds
  readonly limitGauge: Metric.Metric.Gauge<number>
  readonly name: string
  readonly maxWaiting: number
  readonly acquireTimeout: Option.Option<Duration.Duration>
  readonly stats: Effect.Effect<AdaptiveBulkhead.Stats>
  readonly releaseAll: Effect.Effect<number>

  constructor(
    readonly inner: BulkheadImpl,
    readonly algorithm: AdaptiveLimit.Algorithm,
    readonly minLimit: number,
    readonly maxLimit: number,
    initialLimit: number,
    readonly isDrop: (error: unknown) => boolean,
    readonly windowOptions: limits.WindowOptions | undefined
  ) {
    this.window = limits.emptyWindow(0)
    this.name = inner.name
    this.maxWaiting = inner.maxWaiting
    this.acquireTimeout = inner.acquireTimeout
    this.bounds = { minLimit, maxLimit }
    this.state = limits.initial(algorithm, this.bounds, initialLimit)
    this.announced = this.state.limit
    inner.permits = this.state.limit
    this.limitGauge = T.taggedGauge(T.adaptiveLimit, [
      ...T.baseLabels("bulkhead", inner.name, ""),
      MetricLabel.make("algorithm", algorithm._tag)
    ])
    this.limitGauge.unsafeUpdate(this.state.limit, noTags)
    this.stats = Effect.sync(() => this.unsafeStats())
    this.releaseAll = inner.releaseAll
  }

  get maxConcurrent(): number {
    return this.inner.permits
  }

  get limit(): number {
    return this.state.limit
  }

  readonly unsafeStats = (): AdaptiveBulkhead.Stats => ({
    ...this.inner.unsafeStats(),
    algorithm: this.algorithm._tag,
    minLimit: this.minLimit,
    maxLimit: this.maxLimit
  })

  readonly unsafeState = (): AdaptiveLimit.State => this.state

  // -------------------------------------------------------------------------
  // execute: the inner bulkhead's, with the call measured while it holds its permit
  // -------------------------------------------------------------------------

  readonly execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    Effect.clockWith((clock) =>
      Effect.uninterruptibleMask((restore) => {
        // Hot path, as the inner bulkhead's: a free permit and nobody queued. The
        // permit is taken and the handler that returns it (and samples the call)
        // installed inside the mask, one layer instead of the inner's plus ours.
        if (this.inner.tryTake()) {
          return Effect.matchCauseEffect(restore(self), this.onExit(nowMillis(clock), this.inner.taken, clock, true))
        }
        // Queued: the inner bulkhead's path, under the caller's own interruptibility
        // (its mask's restore inside ours would restore to uninterruptible).
        return restore(this.inner.execute(this.measured(self, clock)))
      })
    )

  /**
   * `self`, sampled (the queued path: the inner bulkhead's `execute` holds
   * the permit): its round trip from the moment it holds a permit, the
   * permits held then, and whether it was dropped.
   */
  measured<A, E, R>(self: Effect.Effect<A, E, R>, clock: Clock.Clock): Effect.Effect<A, E, R> {
    return Effect.suspend(() =>
      Effect.matchCauseEffect(self, this.onExit(nowMillis(clock), this.inner.taken, clock, false))
    )
  }

  /**
   * What a call does when it ends: sample it, then (when it holds the permit
   * itself) release it. An interrupted call says nothing about the upstream
   * and is not a sample (Netflix's `onIgnore`); a rejection by this bulkhead
   * is not either (it never gets here): the limit must not shrink because the
   * bulkhead is doing its job.
   */
  onExit<A>(start: number, inflight: number, clock: Clock.Clock, release: boolean): {
    readonly onFailure: (cause: Cause.Cause<any>) => Effect.Effect<never, any>
    readonly onSuccess: (a: A) => Effect.Effect<A>
  } {
    return {
      onFailure: (cause) => {
        let changed: Effect.Effect<void> | undefined = undefined
        if (!Cause.isInterruptedOnly(cause)) {
          const failure = Cause.failureOption(cause)
          const dropped = Option.isSome(failure) && this.isDrop(failure.value)
          changed = this.sample(start, nowMillis(clock), inflight, dropped)
        }
        if (release) this.inner.unsafeRelease(1)
        return changed === undefined ? Effect.failCause(cause) : Effect.zipRight(changed, Effect.failCause(cause))
      },
      onSuccess: (a) => {
        const changed = this.sample(start, nowMillis(clock), inflight, false)
        if (release) this.inner.unsafeRelease(1)
        return changed === undefined ? Effect.succeed(a) : Effect.as(changed, a)
      }
    }
  }

  /** Feeds one sample to the algorithm and applies the new limit; returns the announcement when it is news. */
  sample(start: number, end: number, inflight: number, dropped: boolean): Effect.Effect<void> | undefined {
    let sample: AdaptiveLimit.Sample | undefined = { rttMillis: end - start, inflight, dropped }
    if (this.windowOptions !== undefined) {
      const [window, ready] = limits.addToWindow(this.windowOptions, this.window, sample, end)
      this.window = window
      sample = ready
      if (sample === undefined) return undefined
    }
    const before = this.state.limit
    this.state = limits.update(this.algorithm, this.bounds, this.state, sample)
    const limit = this.state.limit
    if (limit === before) return undefined
    this.apply(limit)
    const previous = this.announced
    if (Math.abs(limit - previous) < Math.max(1, Math.ceil(previous * 0.1))) return undefined
    this.announced = limit
    return this.announce(previous, limit)
  }

  apply(limit: number): void {
    this.inner.permits = limit
    this.inner.serve()
    this.limitGauge.unsafeUpdate(limit, noTags)
  }

  announce(previous: number, limit: number): Effect.Effect<void> {
    return Effect.zipRight(
      T.event(T.Event.bulkheadLimitChanged, {
        [T.Attr.bulkheadName]: this.name,
        [T.Attr.bulkheadAlgorithm]: this.algorithm._tag,
        [T.Attr.bulkheadPreviousLimit]: previous,
        [T.Attr.bulkheadLimit]: limit
      }),
      Effect.annotateLogs(Effect.logDebug("adaptive bulkhead changed its limit"), {
        bulkhead: this.name,
        algorithm: this.algorithm._tag,
        previousLimit: previous,
        limit
      })
    )
  }

  // -------------------------------------------------------------------------
  // Effect.Semaphore: the inner bulkhead's permits and queue (not sampled)
  // -------------------------------------------------------------------------

  readonly withPermits = (permits: number) => this.inner.withPermits(permits)
  readonly withPermitsIfAvailable = (permits: number) => this.inner.withPermitsIfAvailable(permits)
  readonly take = (permits: number): Effect.Effect<number> => this.inner.take(permits)
  readonly release = (permits: number): Effect.Effect<number> => this.inner.release(permits)

  /** Sets the limit (clamped to the bounds); the algorithm goes on from there. */
  readonly resize = (permits: number): Effect.Effect<void> => {
    if (!Number.isSafeInteger(permits) || permits < 0) {
      return Effect.die(validate.invalid(POLICY, "resize", permits, "must be an integer >= 0"))
    }
    return Effect.sync(() => {
      const limit = Math.min(this.maxLimit, Math.max(this.minLimit, permits))
      this.state = withLimit(this.state, limit)
      this.announced = limit
      this.apply(limit)
    })
  }
}

const decodeOptions = options.decoder(POLICY, options.AdaptiveBulkheadOptions)

/** @internal */
export const make = (
  input: AdaptiveBulkhead.Options
): Effect.Effect<AdaptiveBulkhead.AdaptiveBulkhead, InvalidOptionsError> =>
  Effect.flatMap(decodeOptions(input), (decoded) => {
    const algorithm: AdaptiveLimit.Algorithm = decoded.algorithm ?? { _tag: "Vegas" }
    const defaults = limits.defaultLimits(algorithm._tag)
    const minLimit = decoded.minLimit ?? Math.min(defaults.minLimit, decoded.maxLimit ?? defaults.minLimit)
    const maxLimit = decoded.maxLimit ?? Math.max(defaults.maxLimit, minLimit)
    if (minLimit > maxLimit) {
      return Effect.fail(validate.invalid(POLICY, "minLimit", minLimit, `must be <= maxLimit (${maxLimit})`))
    }
    const initialLimit = decoded.initialLimit ?? Math.min(maxLimit, Math.max(minLimit, defaults.initialLimit))
    if (initialLimit < minLimit || initialLimit > maxLimit) {
      return Effect.fail(
        validate.invalid(
          POLICY,
          "initialLimit",
          initialLimit,
          `must be in [minLimit, maxLimit] (${minLimit}, ${maxLimit})`
        )
      )
    }
    const acquireTimeout = decoded.acquireTimeout !== undefined && Duration.isFinite(decoded.acquireTimeout)
      ? decoded.acquireTimeout
      : undefined
    const inner = new BulkheadImpl(decoded.name, initialLimit, decoded.maxWaiting ?? initialLimit, acquireTimeout)
    const window = decoded.window === false ? undefined : {
      minMillis: decoded.window?.minTime === undefined
        ? limits.windowDefaults.minMillis
        : Duration.toMillis(decoded.window.minTime),
      maxMillis: decoded.window?.maxTime === undefined
        ? limits.windowDefaults.maxMillis
        : Duration.toMillis(decoded.window.maxTime),
      minSamples: decoded.window?.minSamples ?? limits.windowDefaults.minSamples
    }
    if (window !== undefined && window.maxMillis < window.minMillis) {
      return Effect.fail(validate.invalid(POLICY, "window.maxTime", input.window, "must be >= window.minTime"))
    }
    return Effect.succeed(
      new AdaptiveBulkheadImpl(
        inner,
        algorithm,
        minLimit,
        maxLimit,
        initialLimit,
        input.isDrop ?? defaultIsDrop,
        window
      )
    )
  })
