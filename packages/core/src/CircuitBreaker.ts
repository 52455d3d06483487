/**
 * A circuit breaker: stop calling a dependency that keeps failing, give it
 * time to recover, then let a few probe calls test it before opening the
 * gates again.
 *
 * Reach for it around every call to something remote that can go down (a
 * broker API, a market-data provider): while the dependency is down, callers
 * fail at once with a `CircuitOpenError` (which says when to come back)
 * instead of piling up on timeouts, and the dependency is not hammered while
 * it recovers.
 *
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ service: "trading_gateway", resource: "broker_api" })
 *   return yield* fetchQuote("AAPL").pipe(CircuitBreaker.withCircuitBreaker(breaker))
 * })
 * ```
 *
 * States:
 * - `Closed`: calls pass; outcomes are recorded. The breaker trips (goes
 *   `Open`) on `failureThreshold` consecutive failures, or, when configured,
 *   when the failure rate or the slow-call rate over the sliding window
 *   reaches its threshold (with at least `minimumCalls` calls in the window).
 * - `Open`: every call is rejected with `CircuitOpenError { state: "Open",
 *   retryAfter }` until `nextAttemptAt` (the open duration: `resetTimeout`,
 *   multiplied by `resetBackoffFactor` for each further trip without a
 *   successful close, capped by `maxResetTimeout`).
 * - `HalfOpen`: at most `halfOpenMaxProbes` calls run at once as probes,
 *   others are rejected (`state: "HalfOpen"`, `retryAfter` zero: a probe may
 *   finish at any moment). `successThreshold` probe successes close the
 *   breaker (and reset the backoff); one probe failure opens it again.
 * - `Isolated` (forced by `isolate`): everything is rejected with
 *   `retryAfter = Duration.infinity` until `reset`.
 * - `Disabled` (forced by `disable`): everything passes and nothing is
 *   recorded until `reset` or `isolate`.
 *
 * The state machine is `CircuitBreakerMachine`: an immutable state union and
 * one pure transition function, with trip rules as values (`rules`; the flat
 * options `failureThreshold` … `minimumCalls` describe the default rules).
 * A breaker holds the current state and runs each call's admission and
 * outcome through that function; what it announces becomes the events, the
 * hook, the log line and the metrics below.
 *
 * Open → HalfOpen is lazy by default: no timer fiber runs. The first
 * observation after `nextAttemptAt` — a call, `state`, `snapshot` or
 * `awaitState` — performs the transition and publishes its `StateChange`
 * (with `at` = the time of that observation). So `state` reports `"HalfOpen"`
 * as soon as the reset timeout has passed, and a `StateChange` to `HalfOpen`
 * has always been published by the time anyone can see that state. For
 * alerting on an idle service, `makeScoped` with `liveHalfOpen: true` runs a
 * fiber in the scope that performs the step at the reset time itself.
 *
 * Waiting: `awaitState(state)` and `awaitClosed` suspend until the breaker is
 * in that state, for callers who prefer to wait out an open circuit.
 *
 * Which outcomes count:
 * - a typed failure counts as a failure when `isFailure(error)` holds (every
 *   typed failure by default); one it excludes (a 404, a validation error) is
 *   *ignored*: neither a failure nor a success, it never enters the window,
 *   never moves the consecutive-failure count, never trips or closes the
 *   breaker (a probe that fails that way just frees its slot);
 * - a defect always counts as a failure;
 * - an interruption never counts (and an interrupted probe frees its slot).
 *
 * Calls admitted before a state change that finish after it are counted in
 * the lifetime totals but do not move the new state (a slow call admitted
 * while `Closed` cannot re-open a breaker that was reset meanwhile).
 *
 * Observability: `events` (a `Stream` of every `StateChange`, backed by an
 * unbounded `PubSub`; publishing never blocks; a subscriber only sees changes
 * that happen after it subscribed), the `onStateChange` hook, a log line per
 * transition (`logWarning` when opening or isolating, `logInfo` otherwise,
 * annotated with `breaker`, `from`, `to`, `reason`), and the metrics below.
 * Logs and the hook run in order, one transition at a time, on a daemon fiber:
 * a slow alerting hook never delays the call that caused the transition, and a
 * failing one is logged and otherwise ignored.
 *
 * Cost: a call in `Closed` state with the default (count) window and no
 * slow-call rule reads no clock and allocates no fiber; a healthy breaker's
 * success, which leaves the machine's state as it was, skips the transition. An idle breaker holds under 1 KB of
 * heap: its `PubSub`, metric labels and window buffer are made when first
 * needed.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Machine from "./CircuitBreakerMachine.js"
import * as internal from "./internal/circuitBreaker.js"
import * as schemas from "./internal/options.js"
import type { CircuitOpenError, InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * A call was rejected by an open, half-open (no probe slot) or isolated
   * breaker.
   *
   * @since 0.1.0
   * @category errors
   */
  CircuitOpenError
} from "./ResilienceError.js"

/**
 * The state of a breaker. `Isolated` and `Disabled` are only entered by hand
 * (`isolate`, `disable`) and only left by hand (`reset`, or each other).
 *
 * @since 0.1.0
 * @category models
 */
export type State = "Closed" | "Open" | "HalfOpen" | "Isolated" | "Disabled"

/**
 * Why a breaker changed state (see `CircuitBreakerMachine.Reason`).
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = Machine.Reason

/**
 * One transition of one breaker. `at` is the Clock's time in epoch
 * milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateChange {
  /** The breaker's name, `service/resource`. */
  readonly breaker: string
  readonly service: string
  readonly resource: string
  readonly from: State
  readonly to: State
  readonly at: number
  readonly reason: Reason
  /**
   * `true` for a change of a fleet-wide breaker's shared state (see
   * `SharedCircuitBreaker`); unset for a breaker's own (local) state.
   */
  readonly fleet?: boolean | undefined
}

/**
 * A point-in-time view of a breaker, for status pages and tests.
 *
 * `calls`, `successes`, `failures`, `ignored`, `interrupted`, `rejections`
 * and `trips` are lifetime totals since the breaker was made (`reset` does
 * not clear them; nothing is counted while `Disabled`).
 * `calls = successes + failures + ignored + interrupted` (rejected calls are
 * not calls: they are `rejections`). `interrupted` counts the interruptions
 * the breaker sees: those of probes, and inner interruptions of any call; a
 * Closed-state call whose own fiber is interrupted is not seen at all (the
 * Closed path installs no interruption handler, which is what keeps it cheap;
 * it holds nothing that would need releasing).
 *
 * `failureRate`, `slowCallRate` and `windowCalls` describe the sliding
 * window (0 when it is empty; `slowCallRate` stays 0 unless the slow-call rule
 * is on). The window is cleared when the breaker closes or is reset; it keeps
 * its content while Open so the rate that tripped it stays visible.
 *
 * `openedAt` is set while Open, HalfOpen (the time of the last trip) or
 * Isolated (the time of `isolate`); `nextAttemptAt` only while Open.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly name: string
  readonly service: string
  readonly resource: string
  readonly state: State
  readonly calls: number
  readonly successes: number
  readonly failures: number
  readonly ignored: number
  readonly interrupted: number
  readonly rejections: number
  readonly consecutiveFailures: number
  readonly windowCalls: number
  readonly failureRate: number
  readonly slowCallRate: number
  readonly openedAt: Option.Option<number>
  readonly nextAttemptAt: Option.Option<number>
  readonly trips: number
  /**
   * Set only for a fleet-wide breaker (`SharedCircuitBreaker`): the fleet's
   * view beside this instance's own (`state` above is what this instance
   * decides with: the stricter of its local breaker and the fleet).
   */
  readonly fleet?: FleetSnapshot | undefined
}

/**
 * The fleet's part of a shared breaker's `Snapshot`:
 *
 * - `mode`: `"shared"` while the store answers, `"local-fallback"` while it
 *   does not (the instance decides on its local breaker alone);
 * - `state`: the fleet's state as last seen (pushed or read) from the store;
 * - `instanceId`: this instance's id;
 * - `failingInstances`: the instances whose failures are in the fleet's
 *   current window, with how many each reported and when the last one was
 *   (store clock, epoch millis);
 * - `version`: the store entry's version last seen (0: none yet).
 *
 * @since 0.3.0
 * @category models
 */
export interface FleetSnapshot {
  readonly mode: "shared" | "local-fallback"
  readonly state: State
  readonly instanceId: string
  readonly failingInstances: ReadonlyArray<FleetInstanceFailures>
  readonly version: number
}

/**
 * One instance's failures in the fleet's current window (see `FleetSnapshot`).
 *
 * @since 0.3.0
 * @category models
 */
export interface FleetInstanceFailures {
  readonly instance: string
  readonly failures: number
  readonly lastFailureAt: number
}

/**
 * Options of `make`. Every option is validated once, in `make`; a bad value
 * fails with an `InvalidOptionsError` naming it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The calling service, e.g. `"trading_gateway"`. */
  readonly service: string
  /** The dependency this breaker guards, e.g. `"broker_api"`. */
  readonly resource: string
  /**
   * The trip rules, checked in order after each call while Closed (see
   * `CircuitBreakerMachine`: `consecutiveFailures`, `failureRate`,
   * `slowCallRate`, `rates`, or your own). Replaces the flat rule options
   * below (`failureThreshold` … `minimumCalls`), which cannot be combined with
   * it.
   *
   * @default the rules the flat options describe
   */
  readonly rules?: ReadonlyArray<Machine.TripRule> | undefined
  /**
   * Trip after this many consecutive failures. `Infinity` turns the rule off
   * (to trip on rates only).
   *
   * @default 5
   */
  readonly failureThreshold?: number | undefined
  /**
   * Trip when the share of failures in the window reaches this rate, in
   * (0, 1]. Off unless set.
   *
   * @default undefined
   */
  readonly failureRateThreshold?: number | undefined
  /**
   * Trip when the share of slow calls (slower than `slowCallDuration`, failed
   * or not) in the window reaches this rate, in (0, 1]. Off unless set.
   *
   * @default undefined
   */
  readonly slowCallRateThreshold?: number | undefined
  /**
   * A call taking strictly longer than this is slow (used only when
   * `slowCallRateThreshold` is set). While HalfOpen, a slow probe counts as a
   * failed probe.
   *
   * @default "60 seconds"
   */
  readonly slowCallDuration?: Duration.DurationInput | undefined
  /**
   * The sliding window of the rate rules (and of `failureRate` in snapshots):
   * the last `windowSize` calls (`"count"`), or the calls of the last
   * `windowSize` seconds (`"time"`: one bucket per second, the current second
   * and the `windowSize - 1` before it; memory O(windowSize)).
   *
   * @default "count"
   */
  readonly windowType?: "count" | "time" | undefined
  /**
   * Calls (count window, at most 1,000,000) or seconds (time window, at most
   * 86,400).
   *
   * @default 100 calls, or 60 seconds
   */
  readonly windowSize?: number | undefined
  /**
   * The rate rules judge only a window holding at least this many calls.
   * At most `windowSize` for a count window.
   *
   * @default 10 (or windowSize when smaller)
   */
  readonly minimumCalls?: number | undefined
  /**
   * How long the breaker stays Open after its first trip.
   *
   * @default "30 seconds"
   */
  readonly resetTimeout?: Duration.DurationInput | undefined
  /**
   * Each further trip without a successful close in between (a failed probe
   * re-opening the breaker) multiplies the open duration by this factor
   * (>= 1). A successful close (or `reset`) goes back to `resetTimeout`.
   *
   * @default 1 (no backoff)
   */
  readonly resetBackoffFactor?: number | undefined
  /**
   * The cap of the open duration under backoff (>= `resetTimeout`).
   *
   * @default the larger of resetTimeout and 5 minutes
   */
  readonly maxResetTimeout?: Duration.DurationInput | undefined
  /**
   * How many probes may run at once while HalfOpen.
   *
   * @default 1
   */
  readonly halfOpenMaxProbes?: number | undefined
  /**
   * How many probe successes close the breaker.
   *
   * @default 1
   */
  readonly successThreshold?: number | undefined
  /**
   * Which typed errors count as failures. Errors it rejects are ignored:
   * neither failures nor successes (they never trip the breaker). Defects
   * always count; interruptions never do. A predicate that throws counts the
   * error as a failure.
   *
   * @default every typed error counts
   */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /**
   * Run after each transition (in order, on a daemon fiber). Its failures and
   * defects are logged and otherwise ignored.
   *
   * @default undefined
   */
  readonly onStateChange?: ((change: StateChange) => Effect.Effect<void, unknown>) | undefined
}

/**
 * Options of `makeScoped`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ScopedOptions extends Options {
  /**
   * Perform Open → HalfOpen at the reset time even with no traffic (a fiber
   * in the scope sleeps until then), so `onStateChange`, `events`, the log
   * line and the state gauge report it on time on an idle service. Without
   * it the step happens at the first observation after the reset time.
   *
   * @default false
   */
  readonly liveHalfOpen?: boolean | undefined
}

/**
 * A circuit breaker instance. Share one instance between every caller of the
 * same dependency (the `CircuitBreakerRegistry` does that by name).
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  /** `service/resource` */
  readonly name: string
  readonly service: string
  readonly resource: string
  /** Run an effect through the breaker: rejected with `CircuitOpenError` when it does not admit the call. */
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
  /** The current state (performs a due Open → HalfOpen transition, see the module docs). */
  readonly state: Effect.Effect<State>
  /** The current snapshot (performs a due Open → HalfOpen transition, see the module docs). */
  readonly snapshot: Effect.Effect<Snapshot>
  /** Force `Isolated`: reject every call until `reset`. */
  readonly isolate: Effect.Effect<void>
  /** Back to `Closed`: clears the window, the consecutive failures and the backoff. */
  readonly reset: Effect.Effect<void>
  /** Force `Disabled`: let every call through, record nothing, until `reset` or `isolate`. */
  readonly disable: Effect.Effect<void>
  /**
   * Every state change from the moment the stream is run (a stream run in a
   * forked fiber subscribes when that fiber gets to run: use `subscribe` to
   * be sure to see the very next change).
   */
  readonly events: Stream.Stream<StateChange>
  /** Subscribe now: every state change from this moment on, until the scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<StateChange>, never, Scope.Scope>
  /**
   * Wait until the breaker is in `state` (at once if it is). Waiting for
   * `"HalfOpen"` on an Open breaker ends at the reset time. Interruptible.
   */
  readonly awaitState: (state: State) => Effect.Effect<void>
  /**
   * Wait until the breaker is Closed: for callers who prefer to wait out an
   * open circuit rather than fail. Closing takes a successful probe, so pair
   * it with a timeout when nothing else calls the dependency.
   */
  readonly awaitClosed: Effect.Effect<void>
}

/**
 * The data rules of `Options`, the single source of `make`'s validation and
 * of `ResilienceConfig`'s breaker settings: names of at most 256 printable
 * characters, counts integers >= 1 (`failureThreshold` may be `Infinity`),
 * rates in (0, 1], `resetBackoffFactor` >= 1, durations finite and > 0
 * (`Duration.DurationInput`: bare numbers are millis), a window within its
 * bound and no smaller than `minimumCalls`, `maxResetTimeout` >= `resetTimeout`.
 * `rules` and the hooks are typed by TypeScript. `make` reports the first
 * issue as an `InvalidOptionsError` naming the option.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Schema } from "effect"
 *
 * Schema.is(Schema.typeSchema(CircuitBreaker.OptionsSchema))({ service: "gw", resource: "broker", windowSize: 0 }) // false
 * ```
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<
  Schema.Schema.Type<typeof schemas.CircuitBreakerOptions>,
  Omit<Options, "rules" | "isFailure" | "onStateChange">
> = schemas.CircuitBreakerOptions

/**
 * Make a circuit breaker. Fails with `InvalidOptionsError` naming the first
 * invalid option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<CircuitBreaker, InvalidOptionsError> = internal.make

/**
 * Make a circuit breaker whose live parts (`liveHalfOpen`) run in the
 * current scope and stop when it closes.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.makeScoped({
 *     service: "broker",
 *     resource: "orders",
 *     liveHalfOpen: true,
 *     onStateChange: (change) => Effect.logWarning(`${change.breaker}: ${change.from} -> ${change.to}`)
 *   })
 *   return yield* Effect.succeed("filled").pipe(CircuitBreaker.withCircuitBreaker(breaker))
 * }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeScoped: (options: ScopedOptions) => Effect.Effect<CircuitBreaker, InvalidOptionsError, Scope.Scope> =
  internal.makeScoped

/**
 * Run an effect through a circuit breaker (data-first or pipeable).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const placeOrder = (symbol: string) => Effect.succeed({ symbol, status: "filled" })
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ service: "broker", resource: "orders" })
 *   return yield* placeOrder("AAPL").pipe(CircuitBreaker.withCircuitBreaker(breaker))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCircuitBreaker: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | CircuitOpenError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | CircuitOpenError, R> =>
    breaker.execute(self)
)

/**
 * `resilience_circuit_breaker_calls_total`: finished calls, labelled
 * `policy="circuit_breaker"`, `service`, `operation` (the breaker's
 * `resource`) and `outcome` (`success`, `failure`, `ignored`, `interrupted`).
 * The scheme is `Observability`'s.
 *
 * The breaker's metrics are updated synchronously with these labels only
 * (labels set on the fiber with `Effect.labelMetrics` are not added): that
 * keeps the update a cached-hook lookup on the hot path.
 *
 * @since 0.1.0
 * @category metrics
 */
export const callsTotal: Metric.Metric.Counter<number> = internal.callsTotal

/**
 * `resilience_circuit_breaker_rejections_total`: rejected calls, labelled
 * `policy`, `service`, `operation` and `state` (`Open`, `HalfOpen`, `Isolated`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const rejectionsTotal: Metric.Metric.Counter<number> = internal.rejectionsTotal

/**
 * `resilience_circuit_breaker_transitions_total`: transitions, labelled
 * `policy`, `service`, `operation`, `from` and `to`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const transitionsTotal: Metric.Metric.Counter<number> = internal.transitionsTotal

/**
 * `resilience_circuit_breaker_state`: the current state, labelled `policy`,
 * `service` and `operation`:
 * 0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled (`CircuitBreakerMachine.gaugeValue`). A breaker's series
 * appears at its first call, rejection or transition (an idle breaker keeps no
 * metric state, so a registry of thousands stays small).
 *
 * @since 0.1.0
 * @category metrics
 */
export const stateGauge: Metric.Metric.Gauge<number> = internal.stateGauge
