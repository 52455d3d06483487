/**
 * A bulkhead caps how many calls run at once against one dependency, so a
 * slow broker or data provider cannot take every fiber (and every socket)
 * of the process with it. Reach for it around any call whose concurrency you
 * must bound: order execution, a market-data fan-out, a connection pool.
 *
 * - At most `maxConcurrent` calls hold a permit at a time.
 * - Up to `maxWaiting` more wait in a strict FIFO queue: released permits go
 *   straight to the oldest waiter (no thundering herd), and a new arrival
 *   never overtakes the queue.
 * - Beyond that a call fails at once with
 *   `BulkheadRejectedError { reason: "full" }`; a call that waited longer than
 *   `acquireTimeout` fails with `reason: "timeout"`.
 * - No permit leaks: a waiting call that is interrupted or times out leaves
 *   the queue, and a running call returns its permit however it ends
 *   (success, failure, defect or interruption).
 *
 * ## A bulkhead is an `Effect.Semaphore`
 *
 * The value `make` returns implements Effect's `Semaphore` interface itself
 * (not through an accessor): pass it to any code written for one, and that
 * code shares the bulkhead's permits and FIFO queue. `withPermits(n)`,
 * `withPermitsIfAvailable(n)`, `take(n)`, `release(n)`, `releaseAll` and
 * `resize(n)` behave as Effect's do, with three differences a bulkhead needs:
 *
 * - Strict FIFO: a waiter is never overtaken, not even by one asking for fewer
 *   permits, and `withPermitsIfAvailable` runs nothing while someone waits.
 * - `releaseAll` returns every permit now held, and the holders' own later
 *   releases of those permits are absorbed: the count never exceeds the size
 *   (Effect's can). Releasing more than was taken stops at zero.
 * - A permit count that is not an integer >= 0 is a defect (an
 *   `InvalidOptionsError`): the interface has no error channel for it.
 *
 * The Semaphore methods never reject (their types cannot say so): they wait
 * as long as needed, with no acquire timeout. They do count as waiting, so
 * `execute` rejects with `reason: "full"` once `maxWaiting` calls of any kind
 * are queued. `resize` changes `maxConcurrent`.
 *
 * Prefer `withPermits` to a bare `take`/`release` pair: an interruption that
 * lands between a successful `take` and the code that would `release` loses
 * those permits (Effect's own semaphore has the same gap). When you need the
 * pair, close the gap as `withPermits` does:
 * `Effect.uninterruptibleMask((restore) => Effect.zipRight(restore(bulkhead.take(1)), restore(work).pipe(Effect.ensuring(bulkhead.release(1)))))`.
 *
 * ## Cost
 *
 * The success path when a permit is free is a synchronous check-and-take and
 * one exit handler, installed under `Effect.uninterruptibleMask` so no
 * interrupt can fall between the take and the handler: no fiber, no timer.
 * The acquire timeout concerns queued calls only: one timer fiber per
 * bulkhead, running while timed calls wait, sleeps on the `Clock` of the
 * caller that started it (so `TestClock` drives it in tests) until the
 * oldest waiter's deadline. BENCHMARKS.md has the figures.
 *
 * Metrics (labelled `policy="bulkhead"`, `service` = the bulkhead's name,
 * `operation=""`; see `Observability`): the gauges `resilience_bulkhead_active`
 * and `resilience_bulkhead_waiting`, and the counter
 * `resilience_bulkhead_rejections_total` (labelled `reason`). Each
 * rejection is logged at debug level with the bulkhead's numbers as
 * annotations.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * // Code written for any Effect Semaphore...
 * const twoAtATime = (semaphore: Effect.Semaphore) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
 *   semaphore.withPermits(2)(self)
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "order-execution", maxConcurrent: 10, maxWaiting: 5 })
 *   // ...takes a bulkhead as it is: both share the same 10 permits.
 *   const report = yield* Effect.succeed("report").pipe(twoAtATime(bulkhead))
 *   const order = yield* Effect.succeed("filled").pipe(Bulkhead.withPermit(bulkhead))
 *   return [report, order]
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/bulkhead.js"
import * as schemas from "./internal/options.js"
import type { BulkheadRejectedError, InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * A call was rejected by a bulkhead: the queue was full, or the call waited
   * longer than the acquire timeout.
   *
   * @since 0.1.0
   * @category errors
   */
  BulkheadRejectedError,
  /**
   * `make` was given an option that breaks its rule.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * How a bulkhead is built. Validated once by `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Identifies the bulkhead in errors, stats, logs and metrics (e.g. `"order-execution"`). */
  readonly name: string
  /**
   * How many calls may hold a permit at once. An integer >= 1.
   *
   * @default 10
   */
  readonly maxConcurrent?: number | undefined
  /**
   * How many calls may wait for a permit; the next one is rejected with
   * `reason: "full"`. An integer >= 0; `0` means no queue (reject whenever
   * every permit is taken). The default is a queue as deep as the pool: a
   * waiter is at most one "generation" of calls behind.
   *
   * @default maxConcurrent
   */
  readonly maxWaiting?: number | undefined
  /**
   * How long a queued call waits for a permit before it fails with
   * `reason: "timeout"`. A finite duration > 0; an infinite one is the same as
   * leaving it out. A call that gets a permit at once never arms a timer.
   *
   * @default none: wait as long as needed
   */
  readonly acquireTimeout?: Duration.DurationInput | undefined
}

/**
 * A live picture of a bulkhead, for status pages and tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly name: string
  /** Permits held: one per call through `execute`, plus those of Semaphore users (including a waiter just handed its). */
  readonly active: number
  /** Permits free now: `maxConcurrent - active`, never below 0. */
  readonly available: number
  /** Callers queued for permits. */
  readonly waiting: number
  /** The current limit: the option, or the last `resize`. */
  readonly maxConcurrent: number
  readonly maxWaiting: number
  /** Calls rejected since `make`, by reason. */
  readonly rejected: {
    readonly full: number
    readonly timeout: number
  }
}

/**
 * A bulkhead instance. Share one instance between every call it must bound.
 * It is an `Effect.Semaphore` with `maxConcurrent` permits (see the module
 * docs for how its Semaphore methods differ from Effect's own).
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead extends Effect.Semaphore {
  readonly name: string
  /** The current limit: the option given to `make`, or the last `resize`. */
  readonly maxConcurrent: number
  readonly maxWaiting: number
  /** `None` when a queued call waits as long as needed. */
  readonly acquireTimeout: Option.Option<Duration.Duration>
  /**
   * Runs `self` holding a permit: at once when one is free and nobody waits,
   * after the calls queued before it otherwise, or fails with
   * `BulkheadRejectedError`. The permit is returned however `self` ends.
   */
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>
  /** The current numbers, read when the effect runs. */
  readonly stats: Effect.Effect<Stats>
  /**
   * The current numbers, read synchronously (a status page, a gauge
   * callback). Safe to call anywhere; it only reads.
   */
  readonly unsafeStats: () => Stats
}

/**
 * The data rules of `Options`, the single source of `make`'s validation and
 * of `ResilienceConfig`'s bulkhead settings: `name` of at most 256 printable
 * characters, `maxConcurrent` an integer >= 1, `maxWaiting` an integer >= 0,
 * `acquireTimeout` a duration > 0 (`Duration.DurationInput`: bare numbers are
 * millis; infinite means none). `make` reports the first issue as an
 * `InvalidOptionsError` naming the option.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<Schema.Schema.Type<typeof schemas.BulkheadOptions>, Options> =
  schemas.BulkheadOptions

/**
 * Builds a bulkhead. Fails with `InvalidOptionsError` naming the option when
 * `name` is empty, `maxConcurrent` is not an integer >= 1, `maxWaiting` is not
 * an integer >= 0, or `acquireTimeout` is not a duration > 0.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<Bulkhead, InvalidOptionsError> = internal.make

/**
 * Runs an effect through a bulkhead: the same as `bulkhead.execute(self)`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "orders", maxConcurrent: 4 })
 *   const placed = yield* Effect.succeed("order-1").pipe(Bulkhead.withPermit(bulkhead))
 *   const same = yield* Bulkhead.withPermit(Effect.succeed("order-2"), bulkhead)
 *   return [placed, same]
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPermit: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadRejectedError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    bulkhead.execute(self)
)
