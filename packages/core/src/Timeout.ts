/**
 * Timeout: bound how long a call may take. Reach for it around every call
 * that crosses a process boundary (an HTTP request, a broker order), usually
 * per attempt, inside a `Retry`.
 *
 * On time the caller fails with `TimeoutError { duration, operation }` and the
 * inner effect is interrupted (an HTTP request is aborted).
 *
 * **Disconnect semantics (the choice, and why).** `Effect.timeout` waits for
 * the timed-out effect to finish being interrupted: 50 ms of timeout around
 * 500 ms of uninterruptible work returns after ~500 ms. A timeout that holds
 * its caller hostage to work that will not stop defeats its purpose (the
 * caller has a deadline of its own), so this one answers at the deadline and
 * interrupts the inner effect in the background. The background interruption
 * runs to completion on its own (its finalizers run, its fiber ends); nothing
 * keeps a reference to it afterwards, so nothing leaks. The price: when the
 * `TimeoutError` arrives, the inner effect's finalizers may still be running.
 *
 * Interrupting the *caller* is different: the inner effect is interrupted and
 * awaited, as any child fiber is, so its finalizers have run when the
 * caller's interruption completes.
 *
 * **Cost.** The inner effect runs in a child fiber started on the current
 * stack (it inherits the caller's context, services, log annotations and
 * span). If it completes without suspending, its result is returned at once
 * and no timer is ever armed (a synchronous computation cannot be preempted
 * anyway); a timer on the fiber's `Clock` (so `TestClock` drives it) is armed
 * only when it suspends. FiberRef changes made inside the timed effect stay
 * inside it (they are not merged back into the caller). The child is an
 * ordinary fiber started with `Runtime.runFork` on the caller's runtime: it
 * is counted in Effect's runtime fiber metrics (`effect_fiber_*`) like any
 * other.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Schema from "effect/Schema"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/timeout.js"
import type { InvalidOptionsError, TimeoutError } from "./ResilienceError.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError,
  /**
   * @since 0.1.0
   * @category errors
   */
  TimeoutError
} from "./ResilienceError.js"

/**
 * Options of `Timeout.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a call may take: a finite `Duration` > 0 (`"10 seconds"`, millis, …). */
  readonly duration: Duration.DurationInput
  /**
   * A name for the guarded call, carried by the `TimeoutError` (and so by
   * logs and HTTP error bodies).
   * @default undefined
   */
  readonly operation?: string | undefined
}

/**
 * A timeout policy: `execute` runs an effect with this deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeout {
  /** The deadline of each call. */
  readonly duration: Duration.Duration
  /** The operation name carried by `TimeoutError`, if any. */
  readonly operation: string | undefined
  /**
   * Runs `self`; fails with `TimeoutError` when it takes longer than
   * `duration` (and interrupts it in the background).
   */
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>
}

/**
 * The data rules of `Options`, the single source of `make`'s validation and
 * of `ResilienceConfig`'s `timeout` setting: `duration` a finite duration > 0
 * (`Duration.DurationInput`: bare numbers are millis), `operation` a name of
 * at most 256 printable characters. `make` reports the first issue as an
 * `InvalidOptionsError` naming the option.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<Schema.Schema.Type<typeof schemas.TimeoutOptions>, Options> =
  schemas.TimeoutOptions

const decodeOptions = schemas.decoder("Timeout", OptionsSchema)

/**
 * Builds a timeout policy. Fails with `InvalidOptionsError` naming the option
 * when `duration` is not a finite duration > 0 or `operation` is not a
 * printable name.
 *
 * There is deliberately no `timeout(self, "5 seconds")` shortcut taking a raw
 * duration: its error channel would have to carry `InvalidOptionsError` on
 * every call. Validate once with `make`, then reuse the value.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const timeout = yield* Timeout.make({ duration: "5 seconds", operation: "getQuote" })
 *   return yield* timeout.execute(Effect.succeed(42))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Timeout, InvalidOptionsError> =>
  Effect.gen(function*() {
    const { duration, operation } = yield* decodeOptions(options)
    const millis = Duration.toMillis(duration)
    const execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TimeoutError, R> =>
      internal.timeout(self, duration, millis, operation)
    const timeout: Timeout = { duration, operation, execute }
    internal.internals.set(timeout, { duration, millis, operation })
    return timeout
  })

/**
 * Runs an effect under a timeout policy: `Timeout.withTimeout(effect, timeout)`
 * or `effect.pipe(Timeout.withTimeout(timeout))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTimeout: {
  (timeout: Timeout): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout): Effect.Effect<A, E | TimeoutError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout): Effect.Effect<A, E | TimeoutError, R> =>
    timeout.execute(self)
)
