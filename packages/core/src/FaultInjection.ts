/**
 * Fault injection (chaos engineering, as Polly's Simmy): make a share of
 * calls fail, slow down, or answer with a chosen result, to see that the
 * policies around them (breaker, retry, timeout, fallback) do what you think.
 *
 * Reach for it in staging, in chaos drills and in tests of a whole program.
 * Three shapes, composable with `Policy.compose` (or one each in
 * `Policy.stack`'s `faultInjection`):
 *
 * - `FaultInjection.failure({ rate, error })`: fail with `error()`
 *   (by default an `InjectedFaultError`) instead of calling;
 * - `FaultInjection.latency({ rate, latency })`: sleep `latency` on the
 *   fiber's `Clock`, then call;
 * - `FaultInjection.result({ rate, value })`: answer `value()` instead of
 *   calling.
 *
 * **Off by default, switchable at run time.** Each injection holds its
 * switch in a `Ref<boolean>` (`enabled`): give `enabled: true` to start on,
 * or pass your own `Ref` to flip several injections with one `Ref.set` (a
 * chaos switch on an admin route). When off, a call costs one `Ref.get`: no
 * random draw, no metric. When on, each call draws once from Effect's
 * `Random` service (so `Random.make(seed)` / `Effect.withRandom` make a run
 * reproducible) and injects when the draw is below `rate`.
 *
 * **Where it sits.** Innermost, around the call itself (`Policy.stack` puts
 * it inside the timeout): injected latency meets the timeout, injected
 * failures count toward the breaker and are retried, as real ones would.
 *
 * Observability (the scheme of `Observability`; `policy` `fault_injection`,
 * `service` the injection's `name`), per injection:
 * `resilience_fault_injections_total` (`reason`: the kind, `failure`,
 * `latency`, `result`) and, on the current span if one is open, a
 * `resilience.fault_injection.injected` event with the kind.
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as internal from "./internal/faultInjection.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * @since 0.2.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * The failure `FaultInjection.failure` injects when no `error` is given.
 *
 * @since 0.2.0
 * @category errors
 */
export class InjectedFaultError extends Schema.TaggedError<InjectedFaultError>()("InjectedFaultError", {
  faultInjection: Schema.String
}) {
  /** @since 0.2.0 */
  override get message(): string {
    return `Fault injected by "${this.faultInjection}"`
  }
}

/**
 * What a fault injection injects.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind = "failure" | "latency" | "result"

/**
 * A fault injection: `execute` injects its fault into a share (`rate`) of
 * calls while `enabled` holds `true`. `E` is the injected error, `A` the
 * injected result (`never` when it injects none).
 *
 * @since 0.2.0
 * @category models
 */
export interface FaultInjection<E = never, A = never> {
  /** The `service` label of its metrics, the name in its span events and in `InjectedFaultError`. */
  readonly name: string
  readonly kind: Kind
  /** The share of calls injected while enabled, in [0, 1]. */
  readonly rate: number
  /** The switch: `Ref.set(injection.enabled, true)` turns it on. */
  readonly enabled: Ref.Ref<boolean>
  readonly execute: <A2, E2, R>(self: Effect.Effect<A2, E2, R>) => Effect.Effect<A | A2, E | E2, R>
}

/**
 * Options every shape shares.
 *
 * @since 0.2.0
 * @category models
 */
export interface CommonOptions {
  /** The share of calls to inject while enabled: a number in [0, 1]. */
  readonly rate: number
  /**
   * The initial state of a switch of its own (`true` / `false`), or a
   * `Ref<boolean>` to share a switch between injections.
   * @default false
   */
  readonly enabled?: boolean | Ref.Ref<boolean> | undefined
  /**
   * The `service` label of its metrics, the name in its span events and in `InjectedFaultError`.
   * @default "faultInjection"
   */
  readonly name?: string | undefined
}

/**
 * The data rules of `CommonOptions` (plus `latency` and the `error` /
 * `value` thunks), decoded by each constructor: `rate` a number in [0, 1],
 * `enabled` a boolean or a `Ref`, `name` a printable name, `latency` a
 * finite duration >= 0.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<internal.DecodedOptions, internal.EncodedOptions> = internal.OptionsSchema

/**
 * Fails a share of calls with `error()` (by default `InjectedFaultError`)
 * without calling them.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-resilience/core"
 * import { Effect, Ref } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const chaos = yield* FaultInjection.failure({ rate: 0.1, name: "broker-chaos" })
 *   yield* Ref.set(chaos.enabled, true) // off until switched on
 *   return yield* Effect.either(chaos.execute(Effect.succeed("filled")))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const failure = <E = InjectedFaultError>(
  options: CommonOptions & {
    /** The error to fail with. @default () => new InjectedFaultError({ faultInjection: name }) */
    readonly error?: (() => E) | undefined
  }
): Effect.Effect<FaultInjection<E, never>, InvalidOptionsError> =>
  internal.make<E, never>(options, "failure", (name) => {
    const error = options.error ?? (() => new InjectedFaultError({ faultInjection: name }) as E)
    return () => Effect.fail(error())
  })

/**
 * Delays a share of calls by `latency` (slept on the fiber's `Clock`), then
 * runs them.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const slow = yield* FaultInjection.latency({ rate: 0.05, latency: "3 seconds", enabled: true })
 *   return yield* slow.execute(Effect.succeed("quote"))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const latency = (
  options: CommonOptions & {
    /** The delay added: a finite duration >= 0. */
    readonly latency: Duration.DurationInput
  }
): Effect.Effect<FaultInjection<never, never>, InvalidOptionsError> =>
  internal.make<never, never>(options, "latency", (_, decoded) => {
    const delay = decoded.latency!
    return (self) => Effect.zipRight(Effect.sleep(delay), self)
  })

/**
 * Answers a share of calls with `value()` without running them.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const empty = yield* FaultInjection.result({ rate: 0.5, value: () => [], enabled: true })
 *   return yield* empty.execute(Effect.succeed(["AAPL"]))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const result = <A>(
  options: CommonOptions & {
    /** The result to answer with. */
    readonly value: () => A
  }
): Effect.Effect<FaultInjection<never, A>, InvalidOptionsError> =>
  internal.make<never, A>(options, "result", () => {
    const value = options.value
    return () => Effect.sync(value)
  })
