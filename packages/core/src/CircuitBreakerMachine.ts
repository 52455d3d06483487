/**
 * The circuit breaker's state machine as data and one pure function: a state
 * (an immutable tagged union), an event (a call's outcome, an admission, time
 * passing, a manual command) and the time go in; the next state, the state
 * changes to announce and, for an admission, the verdict come out. No Effect,
 * no I/O, no clock: the caller says what time it is.
 *
 * `CircuitBreaker.make` runs this machine for one process. Reach for it
 * directly to build another breaker on the same rules (the fleet-wide breaker
 * on Redis runs it over shared state), to simulate a configuration against a
 * recorded trace of outcomes, or to test a custom trip rule.
 *
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const config = Machine.unsafeConfig({ rules: [Machine.consecutiveFailures(2)], resetTimeout: "10 seconds" })
 * let state = Machine.initial(config)
 * for (const at of [0, 1]) {
 *   state = Machine.transition(state, { _tag: "Failure", epoch: state.epoch, durationMillis: 5 }, at, config).state
 * }
 * state._tag // "Open", until 10_001
 * ```
 *
 * Trip rules are values (as cockatiel's `ConsecutiveBreaker`, `CountBreaker`
 * and `SamplingBreaker`): `consecutiveFailures(n)`, `failureRate(…)` and
 * `slowCallRate(…)` over a count or time window with a minimum number of
 * calls, or `rates(…)` for both over one shared window. A rule is a plain
 * object with an initial state and two pure functions (`record`, `check`):
 * write your own the same way.
 *
 * Epochs: every state change increments `epoch`. A call remembers the epoch
 * that admitted it and reports its outcome with it; an outcome from an older
 * epoch moves nothing (a slow call admitted while Closed cannot re-open a
 * breaker that was reset meanwhile).
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as internal from "./internal/circuitBreakerMachine.js"
import * as schemas from "./internal/options.js"
import { InvalidOptionsError } from "./ResilienceError.js"

/**
 * A state's name, as `CircuitBreaker.State` spells it.
 *
 * @since 0.2.0
 * @category models
 */
export type StateName = State["_tag"]

/**
 * What every state carries: the `epoch` (incremented on each state change),
 * the consecutive failures seen (Closed calls and probes), the `trips` since
 * the breaker last closed (the backoff's exponent) and each trip rule's own
 * state, in the order of `Config.rules`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Common {
  readonly epoch: number
  readonly consecutiveFailures: number
  readonly trips: number
  readonly rules: ReadonlyArray<unknown>
}

/**
 * Calls pass; their outcomes feed the trip rules.
 *
 * @since 0.2.0
 * @category models
 */
export interface Closed extends Common {
  readonly _tag: "Closed"
}

/**
 * Calls are rejected until `until` (epoch millis); it tripped at `openedAt`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Open extends Common {
  readonly _tag: "Open"
  readonly openedAt: number
  readonly until: number
}

/**
 * Up to `Config.halfOpenMaxProbes` probes run at once (`probes` in flight);
 * `successes` of them have succeeded.
 *
 * @since 0.2.0
 * @category models
 */
export interface HalfOpen extends Common {
  readonly _tag: "HalfOpen"
  readonly openedAt: number
  readonly probes: number
  readonly successes: number
}

/**
 * Forced open by hand at `openedAt`: every call is rejected until `Reset`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Isolated extends Common {
  readonly _tag: "Isolated"
  readonly openedAt: number
}

/**
 * Forced off by hand: every call passes and nothing is recorded.
 *
 * @since 0.2.0
 * @category models
 */
export interface Disabled extends Common {
  readonly _tag: "Disabled"
}

/**
 * A breaker's state.
 *
 * @since 0.2.0
 * @category models
 */
export type State = Closed | Open | HalfOpen | Isolated | Disabled

/**
 * A finished call, as a rule sees it: a success or a failure, and how long
 * it took (used by slow-call rules; 0 when nobody timed it). The `Success`
 * and `Failure` events are calls.
 *
 * @since 0.2.0
 * @category models
 */
export interface Call {
  readonly _tag: "Success" | "Failure"
  readonly durationMillis: number
}

/**
 * What happens to a breaker.
 *
 * - `Admit`: a call asks to run; the transition's `admission` says whether it
 *   may (and with which epoch) or why not. Admitting a call when the reset
 *   timeout has passed moves Open → HalfOpen and makes the call a probe.
 * - `Success` / `Failure`: a call admitted in `epoch` ended with that verdict.
 * - `Ignored`: a call admitted in `epoch` ended without one (an error the
 *   breaker does not count, an interruption): it only frees its probe slot.
 * - `Tick`: time passes (Open → HalfOpen when the reset timeout is over).
 * - `Isolate`, `Disable`, `Reset`: the manual commands.
 *
 * @since 0.2.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Success"; readonly epoch: number; readonly durationMillis: number }
  | { readonly _tag: "Failure"; readonly epoch: number; readonly durationMillis: number }
  | { readonly _tag: "Ignored"; readonly epoch: number }
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Isolate" }
  | { readonly _tag: "Disable" }
  | { readonly _tag: "Reset" }

/**
 * Why a breaker changed state.
 *
 * - `"consecutive-failures"`, `"failure-rate"`, `"slow-call-rate"`: a trip rule fired (Closed → Open)
 * - `"reset-timeout-elapsed"`: Open → HalfOpen
 * - `"probe-failed"`, `"probe-slow"`: HalfOpen → Open
 * - `"probe-succeeded"`: HalfOpen → Closed (after `successThreshold` successes)
 * - `"isolated"`, `"reset"`, `"disabled"`: manual
 *
 * @since 0.2.0
 * @category models
 */
export type Reason =
  | "consecutive-failures"
  | "failure-rate"
  | "slow-call-rate"
  | "reset-timeout-elapsed"
  | "probe-failed"
  | "probe-slow"
  | "probe-succeeded"
  | "isolated"
  | "reset"
  | "disabled"

/**
 * A state change to tell the world about (hooks, logs, metrics, events).
 *
 * @since 0.2.0
 * @category models
 */
export interface Announcement {
  readonly from: StateName
  readonly to: StateName
  readonly reason: Reason
  readonly at: number
}

/**
 * The verdict on an `Admit`: the call runs (reporting its outcome with
 * `epoch`; `probe` when it holds a half-open slot), or it is rejected, with
 * how long to wait before trying again (`Infinity` while Isolated, 0 while
 * HalfOpen: a probe may finish at any moment).
 *
 * @since 0.2.0
 * @category models
 */
export type Admission =
  | { readonly _tag: "Admitted"; readonly epoch: number; readonly probe: boolean }
  | { readonly _tag: "Rejected"; readonly state: "Open" | "HalfOpen" | "Isolated"; readonly retryAfterMillis: number }

/**
 * The result of one event: the next state (the very same object when nothing
 * changed), the state changes in order (at most one), and for `Admit` the
 * verdict.
 *
 * @since 0.2.0
 * @category models
 */
export interface Transition {
  readonly state: State
  readonly announcements: ReadonlyArray<Announcement>
  readonly admission?: Admission
}

/**
 * The totals of the calls in a rule's window.
 *
 * @since 0.2.0
 * @category models
 */
export interface WindowView {
  readonly calls: number
  readonly failures: number
  readonly slow: number
}

/**
 * A trip rule: its own state (`initial`, then what `record` returns for each
 * finished call of a Closed breaker) and `check`, the reason to trip, if any.
 * Both are pure; `record` should return the state it was given when nothing
 * changed (the machine then allocates nothing on a success).
 *
 * `usesClock`: `record`/`check` read `now` (a time window); otherwise callers
 * may pass any time. `slowCallMillis`: calls slower than this are slow (and a
 * slow probe fails); callers time calls only when a rule sets it. `invalid`:
 * why the rule's parameters are unusable (the built-in constructors set it
 * instead of throwing; `config` turns it into an `InvalidOptionsError`).
 *
 * @since 0.2.0
 * @category models
 */
export interface TripRule<S = any> {
  readonly name: string
  readonly invalid: string | undefined
  readonly initial: S
  readonly usesClock: boolean
  readonly slowCallMillis: number | undefined
  readonly record: (state: S, call: Call, now: number) => S
  readonly check: (state: S, now: number) => Reason | undefined
  /** The window's totals, for snapshots (the first rule that has one is shown). */
  readonly view?: ((state: S, now: number) => WindowView) | undefined
}

/**
 * A rate rule's window: the last `calls` calls, or the calls of the last
 * `seconds` seconds (one bucket per second: the current second and the
 * `seconds - 1` before it).
 *
 * @since 0.2.0
 * @category models
 */
export type WindowSize = { readonly calls: number } | { readonly seconds: number }

/**
 * Options of `rates`.
 *
 * @since 0.2.0
 * @category models
 */
export interface RatesOptions {
  /** At most 1,000,000 calls or 86,400 seconds. @default { calls: 100 } */
  readonly window?: WindowSize | undefined
  /** Judge only a window holding at least this many calls. @default 10 (or a smaller count window's size) */
  readonly minimumCalls?: number | undefined
  /** Trip when the share of failures reaches this rate, in (0, 1]. @default off */
  readonly failureRate?: number | undefined
  /** Trip when the share of slow calls (failed or not) reaches this rate, in (0, 1]. @default off */
  readonly slowCallRate?: number | undefined
  /** A call taking strictly longer than this is slow. @default "60 seconds" */
  readonly slowerThan?: Duration.DurationInput | undefined
}

/**
 * Trip after `threshold` consecutive failures (`Infinity`: never). The
 * seeds' rule, 5 by default in `CircuitBreaker.make`.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const rule = Machine.consecutiveFailures(5)
 * rule.check(rule.record(4, { _tag: "Failure", durationMillis: 0 }, 0), 0) // "consecutive-failures"
 * ```
 *
 * @since 0.2.0
 * @category rules
 */
export const consecutiveFailures: (threshold: number) => TripRule<number> = internal.consecutiveFailures

/**
 * Failure rate and/or slow-call rate over one shared sliding window (what
 * `CircuitBreaker.make`'s rate options build). With neither rate set it never
 * trips, and only keeps the window for snapshots.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const rule = Machine.rates({ window: { seconds: 60 }, minimumCalls: 20, failureRate: 0.5, slowCallRate: 0.8, slowerThan: "2 seconds" })
 * ```
 *
 * @since 0.2.0
 * @category rules
 */
export const rates: (options: RatesOptions) => TripRule = internal.rates

/**
 * Trip when the share of failures in the window reaches `threshold`.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const rule = Machine.failureRate({ threshold: 0.5, window: { calls: 100 }, minimumCalls: 20 })
 * ```
 *
 * @since 0.2.0
 * @category rules
 */
export const failureRate = (
  options: { readonly threshold: number } & Omit<RatesOptions, "failureRate" | "slowCallRate" | "slowerThan">
): TripRule => internal.rates({ ...options, failureRate: options.threshold })

/**
 * Trip when the share of calls slower than `slowerThan` reaches `threshold`.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const rule = Machine.slowCallRate({ threshold: 0.8, slowerThan: "2 seconds", window: { seconds: 60 } })
 * ```
 *
 * @since 0.2.0
 * @category rules
 */
export const slowCallRate = (
  options:
    & { readonly threshold: number; readonly slowerThan: Duration.DurationInput }
    & Omit<RatesOptions, "failureRate" | "slowCallRate" | "slowerThan">
): TripRule => internal.rates({ ...options, slowCallRate: options.threshold })

/**
 * A breaker's configuration: its trip rules (checked in order, the first
 * that fires names the trip), how long it stays Open (`resetMillis`, times
 * `backoffFactor` per further trip without a close, capped by
 * `maxResetMillis`), and the half-open probing (`halfOpenMaxProbes` at once,
 * `successThreshold` successes to close). `slowCallMillis` and `usesClock`
 * are derived from the rules.
 *
 * @since 0.2.0
 * @category models
 */
export interface Config {
  readonly rules: ReadonlyArray<TripRule>
  readonly resetMillis: number
  readonly backoffFactor: number
  readonly maxResetMillis: number
  readonly halfOpenMaxProbes: number
  readonly successThreshold: number
  readonly slowCallMillis: number | undefined
  readonly usesClock: boolean
}

/**
 * Options of `config`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConfigOptions {
  /** @default [consecutiveFailures(5)] */
  readonly rules?: ReadonlyArray<TripRule> | undefined
  /** @default "30 seconds" */
  readonly resetTimeout?: Duration.DurationInput | undefined
  /** >= 1. @default 1 (no backoff) */
  readonly resetBackoffFactor?: number | undefined
  /** >= resetTimeout. @default the larger of resetTimeout and 5 minutes */
  readonly maxResetTimeout?: Duration.DurationInput | undefined
  /** @default 1 */
  readonly halfOpenMaxProbes?: number | undefined
  /** @default 1 */
  readonly successThreshold?: number | undefined
}

const POLICY = "CircuitBreaker"

const decodeOptions = Schema.decodeUnknownEither(schemas.MachineOptions, { errors: "first" })

/**
 * Validate options into a `Config`: `Left(InvalidOptionsError)` naming the
 * first bad option (a rule's own problem as `rules[i]`), never a throw.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * const config = Machine.config({ rules: [Machine.consecutiveFailures(0)] })
 * Either.isLeft(config) // true: threshold must be an integer >= 1
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const config = (options: ConfigOptions): Either.Either<Config, InvalidOptionsError> =>
  Either.gen(function*() {
    const rules = options.rules ?? [consecutiveFailures(5)]
    if (!Array.isArray(rules)) {
      return yield* Either.left(
        new InvalidOptionsError({ policy: POLICY, option: "rules", value: String(rules), rule: "must be an array" })
      )
    }
    for (let i = 0; i < rules.length; i++) {
      const rule: TripRule | undefined = rules[i]
      const invalid = typeof rule !== "object" || rule === null || typeof rule.record !== "function" ||
          typeof rule.check !== "function"
        ? "must be a TripRule"
        : rule.invalid
      if (invalid !== undefined) {
        return yield* Either.left(
          new InvalidOptionsError({ policy: POLICY, option: `rules[${i}]`, value: String(rule?.name), rule: invalid })
        )
      }
    }
    // the same rules and messages as CircuitBreaker.OptionsSchema's
    const decoded = yield* Either.mapLeft(decodeOptions(options), (error) =>
      schemas.toInvalidOptions(POLICY, options, error))
    const resetMillis = Duration.toMillis(decoded.resetTimeout ?? Duration.seconds(30))
    const backoffFactor = decoded.resetBackoffFactor ?? 1
    const maxResetMillis = decoded.maxResetTimeout === undefined
      ? Math.max(resetMillis, 5 * 60_000)
      : Duration.toMillis(decoded.maxResetTimeout)
    const halfOpenMaxProbes = decoded.halfOpenMaxProbes ?? 1
    const successThreshold = decoded.successThreshold ?? 1
    let slowCallMillis: number | undefined
    for (const rule of rules) {
      if (rule.slowCallMillis !== undefined) {
        slowCallMillis = Math.min(slowCallMillis ?? Infinity, rule.slowCallMillis)
      }
    }
    return {
      rules,
      resetMillis,
      backoffFactor,
      maxResetMillis,
      halfOpenMaxProbes,
      successThreshold,
      slowCallMillis,
      usesClock: rules.some((rule) =>
        rule.usesClock
      )
    }
  })

/**
 * `config` for options known to be valid (tests, examples, constants):
 * throws the `InvalidOptionsError` otherwise.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const config = Machine.unsafeConfig({ resetTimeout: "10 seconds" })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const unsafeConfig = (options: ConfigOptions): Config => Either.getOrThrowWith(config(options), (error) => error)

/**
 * A new breaker's state: Closed, epoch 0, every rule at its initial state.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * Machine.initial(Machine.unsafeConfig({}))._tag // "Closed"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial: (config: Config) => State = internal.initial

/**
 * The transition function: `state` after `event` at `now` (epoch millis),
 * under `config`. Pure and total: an event that does not apply (an outcome
 * from an older epoch, `Tick` before the reset time, `Isolate` when
 * Isolated) returns `state` itself with no announcement.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const config = Machine.unsafeConfig({ rules: [Machine.consecutiveFailures(1)], resetTimeout: 1000 })
 * const opened = Machine.transition(Machine.initial(config), { _tag: "Failure", epoch: 0, durationMillis: 0 }, 0, config)
 * opened.announcements // [{ from: "Closed", to: "Open", reason: "consecutive-failures", at: 0 }]
 * const probing = Machine.transition(opened.state, { _tag: "Tick" }, 1000, config)
 * probing.state._tag // "HalfOpen"
 * ```
 *
 * @since 0.2.0
 * @category transitions
 */
export const transition: (state: State, event: Event, now: number, config: Config) => Transition = internal.transition

/**
 * A state's number for a gauge, in one documented order:
 * 0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled (the further from
 * healthy, the higher; `CircuitBreaker.stateGauge` reports it).
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * Machine.gaugeValue("Open") // 2
 * ```
 *
 * @since 0.2.0
 * @category getters
 */
export const gaugeValue: (state: StateName) => number = internal.gaugeValue

/**
 * The totals of the first windowed rule's window as of `now` (zeros when no
 * rule keeps a window), for snapshots and status pages.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const config = Machine.unsafeConfig({ rules: [Machine.failureRate({ threshold: 0.5 })] })
 * Machine.windowView(config, Machine.initial(config), 0) // { calls: 0, failures: 0, slow: 0 }
 * ```
 *
 * @since 0.2.0
 * @category getters
 */
export const windowView: (config: Config, state: State, now: number) => WindowView = internal.windowView

/**
 * A `State` as JSON-safe data (what `JSON.stringify` writes and `JSON.parse`
 * gives back unchanged): the form the fleet-wide breaker stores. The
 * windows' queues are flattened to arrays (a long linked list would overflow
 * the stack of `JSON.stringify`). A custom rule's state is written as it is,
 * so a custom rule used by a shared breaker must keep JSON-safe state.
 *
 * @since 0.3.0
 * @category models
 */
export interface EncodedState {
  readonly _tag: StateName
  readonly epoch: number
  readonly consecutiveFailures: number
  readonly trips: number
  readonly rules: ReadonlyArray<unknown>
  readonly openedAt?: number
  readonly until?: number
  readonly probes?: number
  readonly successes?: number
}

/**
 * A stored state could not be read back under a configuration: not a state,
 * or one written under other rules (another rule list, another window).
 *
 * @since 0.3.0
 * @category errors
 */
export class StateDecodeError extends Schema.TaggedError<StateDecodeError>()("StateDecodeError", {
  reason: Schema.String
}) {
  /** @since 0.3.0 */
  override get message(): string {
    return `Cannot decode a circuit breaker state: ${this.reason}`
  }
}

/**
 * Encode a state as JSON-safe data (see `EncodedState`).
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 *
 * const config = Machine.unsafeConfig({ rules: [Machine.failureRate({ threshold: 0.5 })] })
 * const text = JSON.stringify(Machine.encodeState(Machine.initial(config)))
 * ```
 *
 * @since 0.3.0
 * @category codecs
 */
export const encodeState: (state: State) => EncodedState = internal.encodeState

/**
 * Decode what `encodeState` wrote (after a trip through `JSON`), checked
 * against `config`: the rule states must be those of `config.rules` (same
 * count, kinds and window sizes). Anything else, a foreign value or a state
 * written under other rules, is a `StateDecodeError` (never a throw); the
 * fleet-wide breaker then starts from `initial(config)`.
 *
 * @example
 * ```ts
 * import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * const config = Machine.unsafeConfig({})
 * Either.isLeft(Machine.decodeState(config, { _tag: "Open" })) // true
 * ```
 *
 * @since 0.3.0
 * @category codecs
 */
export const decodeState = (config: Config, json: unknown): Either.Either<State, StateDecodeError> => {
  const decoded = internal.decodeState(config, json)
  return typeof decoded === "string" ? Either.left(new StateDecodeError({ reason: decoded })) : Either.right(decoded)
}
