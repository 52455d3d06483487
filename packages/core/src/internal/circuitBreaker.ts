/**
 * The in-process circuit breaker: runs calls through the pure state machine of
 * `CircuitBreakerMachine` and tells the world about its transitions (events,
 * hook, log lines, metrics).
 *
 * The machine's state is one immutable value in one cell (`this.current`),
 * replaced only by `apply`, which runs `Machine.transition` inside a
 * synchronous callback (atomic on a single-threaded runtime). It is not an
 * Effect `Ref`: `Ref`'s public API has no synchronous read, and the fused
 * policy stack decides admission within one synchronous step of the caller.
 * Fibers that wait for a state (`awaitState`, the live half-open timer)
 * subscribe to the transitions' `PubSub`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as api from "../CircuitBreaker.js"
import * as Machine from "../CircuitBreakerMachine.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { CircuitOpenError } from "../ResilienceError.js"
import * as schemas from "./options.js"
import * as T from "./telemetry.js"
import * as validate from "./validate.js"

const POLICY = "CircuitBreaker"

// ---------------------------------------------------------------------------
// metrics (module level: one definition, labelled per breaker)
// ---------------------------------------------------------------------------

/** @internal */
export const callsTotal = Metric.fromMetricKey(T.breakerCalls)

/** @internal */
export const rejectionsTotal = Metric.fromMetricKey(T.breakerRejections)

/** @internal */
export const transitionsTotal = Metric.fromMetricKey(T.breakerTransitions)

/** @internal */
export const stateGauge = Metric.fromMetricKey(T.breakerState)

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/** @internal */
export interface Config {
  readonly name: string
  readonly service: string
  readonly resource: string
  readonly machine: Machine.Config
  readonly isFailure: ((error: unknown) => boolean) | undefined
  readonly onStateChange: ((change: api.StateChange) => Effect.Effect<void, unknown>) | undefined
}

const decodeOptions = schemas.decoder(POLICY, schemas.CircuitBreakerOptions)

const optionalFunction = <F>(option: string, value: F | undefined): Effect.Effect<F | undefined, InvalidOptionsError> =>
  value === undefined || typeof value === "function"
    ? Effect.succeed(value)
    : validate.fail(POLICY, option, value, "must be a function")

const ruleOptions = [
  "failureThreshold",
  "failureRateThreshold",
  "slowCallRateThreshold",
  "slowCallDuration",
  "windowType",
  "windowSize",
  "minimumCalls"
] as const

type Decoded = Schema.Schema.Type<typeof schemas.CircuitBreakerOptions>

// The trip rules the flat options describe (validated by the options schema): consecutive failures, then the rate
// rules over one shared window (kept even with no rate threshold: snapshots report its failure rate).
const rulesOf = (options: Decoded): ReadonlyArray<Machine.TripRule> => {
  const isCount = (options.windowType ?? "count") === "count"
  const windowSize = options.windowSize ?? (isCount ? 100 : 60)
  return [
    Machine.consecutiveFailures(options.failureThreshold ?? 5),
    Machine.rates({
      window: isCount ? { calls: windowSize } : { seconds: windowSize },
      minimumCalls: options.minimumCalls ?? (isCount ? Math.min(10, windowSize) : 10),
      failureRate: options.failureRateThreshold,
      slowCallRate: options.slowCallRateThreshold,
      slowerThan: options.slowCallDuration ?? "60 seconds"
    })
  ]
}

/** @internal */
export const resolve = (options: api.Options): Effect.Effect<Config, InvalidOptionsError> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) {
      return yield* validate.fail(POLICY, "options", options, "must be an object")
    }
    const mixed = options.rules === undefined ? undefined : ruleOptions.find((option) => options[option] !== undefined)
    if (mixed !== undefined) {
      return yield* validate.fail(POLICY, "rules", mixed, `cannot be combined with ${mixed}: put that rule in rules`)
    }
    const decoded = yield* decodeOptions(options)
    const rules = options.rules ?? rulesOf(decoded)
    const machine = yield* Machine.config({
      rules,
      resetTimeout: decoded.resetTimeout,
      resetBackoffFactor: decoded.resetBackoffFactor,
      maxResetTimeout: decoded.maxResetTimeout,
      halfOpenMaxProbes: decoded.halfOpenMaxProbes,
      successThreshold: decoded.successThreshold
    })
    const isFailure = yield* optionalFunction("isFailure", options.isFailure)
    const onStateChange = yield* optionalFunction("onStateChange", options.onStateChange)
    const { resource, service } = decoded
    return { name: `${service}/${resource}`, service, resource, machine, isFailure, onStateChange }
  })

// ---------------------------------------------------------------------------
// the breaker
// ---------------------------------------------------------------------------

// outcome of one finished call
const SUCCESS = 0
const FAILURE = 1
const IGNORED = 2
const INTERRUPTED = 3
/** @internal */
export type Outcome = 0 | 1 | 2 | 3

const outcomeNames: ReadonlyArray<string> = ["success", "failure", "ignored", "interrupted"]

// Label arrays are built once each, when first needed: the metric hook cache is keyed by array identity, and each
// label set used creates a metric entry, so a breaker that only ever succeeded carries only that one.
class Labels {
  readonly breaker: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly outcomes: Array<ReadonlyArray<MetricLabel.MetricLabel> | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined
  ]
  private rejections: Map<string, ReadonlyArray<MetricLabel.MetricLabel>> | undefined = undefined

  constructor(service: string, resource: string) {
    this.breaker = T.baseLabels("circuit_breaker", service, resource)
  }

  outcome(outcome: Outcome): ReadonlyArray<MetricLabel.MetricLabel> {
    return this.outcomes[outcome] ??= [...this.breaker, MetricLabel.make("outcome", outcomeNames[outcome])]
  }

  rejection(state: string): ReadonlyArray<MetricLabel.MetricLabel> {
    const rejections = this.rejections ??= new Map()
    let labels = rejections.get(state)
    if (labels === undefined) {
      labels = [...this.breaker, MetricLabel.make("state", state)]
      rejections.set(state, labels)
    }
    return labels
  }
}

/** @internal */
export type Handlers = {
  readonly onSuccess: (a: any) => Effect.Effect<any, any, any>
  readonly onFailure: (cause: Cause.Cause<any>) => Effect.Effect<any, any, any>
}

const admitEvent: Machine.Event = { _tag: "Admit" }
const tickEvent: Machine.Event = { _tag: "Tick" }

/** @internal */
export class Breaker implements api.CircuitBreaker {
  readonly name: string
  readonly service: string
  readonly resource: string
  private readonly machine: Machine.Config

  // the machine's state: replaced only by `apply` (and `recordUntimed`, which runs the same transition)
  private current: Machine.State
  // a Closed state an untimed success of its own epoch left unchanged (see `makeClosedHandlers`)
  private steady: Machine.State | undefined = undefined

  // lifetime totals (not part of the machine: they never decide anything)
  private successes = 0
  private failures = 0
  private ignored = 0
  private interrupted = 0
  private rejections = 0
  private trips = 0

  // the Closed state's outcome handlers for the current epoch, made at the first call after it began
  private closedHandlers: Handlers | undefined = undefined

  // transitions whose log line and hook have not run yet, drained in order by one daemon fiber at a time
  private readonly pending: Array<api.StateChange> = []
  private draining = false

  // Built on first use, not in the constructor: an idle breaker (a registry may hold thousands) then costs a few
  // hundred bytes instead of ~12 KB. A PubSub drops what is published while nobody subscribes, so creating it on
  // the first `events` / `subscribe` access and publishing only once it exists is observably the same.
  private labels: Labels | undefined = undefined
  private hub: PubSub.PubSub<api.StateChange> | undefined = undefined
  private eventStream: Stream.Stream<api.StateChange> | undefined = undefined

  constructor(
    readonly config: Config,
    private readonly sink: ((change: api.StateChange) => void) | undefined
  ) {
    this.name = config.name
    this.service = config.service
    this.resource = config.resource
    this.machine = config.machine
    this.current = Machine.initial(config.machine)
    // bound here rather than written as an arrow-function field: a bound function is a small fixed-size object, and
    // callers take `breaker.execute` detached (Policy.compose)
    this.execute = this.run.bind(this)
  }

  private pubsub(): PubSub.PubSub<api.StateChange> {
    return this.hub ??= Effect.runSync(PubSub.unbounded<api.StateChange>())
  }

  get events(): Stream.Stream<api.StateChange> {
    return this.eventStream ??= Stream.fromPubSub(this.pubsub())
  }

  get subscribe(): Effect.Effect<Queue.Dequeue<api.StateChange>, never, Scope.Scope> {
    return Effect.suspend(() => PubSub.subscribe(this.pubsub()))
  }

  // The metric labels, built on the first metric update. The state gauge is registered at the same moment (with
  // the current state): a breaker appears in the metrics once it has been used, not when it is made.
  private metricLabels(): Labels {
    if (this.labels !== undefined) return this.labels
    const labels = new Labels(this.config.service, this.config.resource)
    this.labels = labels
    stateGauge.unsafeUpdate(Machine.gaugeValue(this.current._tag), labels.breaker)
    return labels
  }

  // -- the one place the state changes ----------------------------------------

  private apply(event: Machine.Event, now: number): Machine.Transition {
    const transition = Machine.transition(this.current, event, now, this.machine)
    this.current = transition.state
    for (const announcement of transition.announcements) this.publish(announcement)
    return transition
  }

  private publish(announcement: Machine.Announcement): void {
    const { at, from, reason, to } = announcement
    this.closedHandlers = undefined
    if (to === "Open") this.trips++
    const labels = this.metricLabels()
    stateGauge.unsafeUpdate(Machine.gaugeValue(to), labels.breaker)
    transitionsTotal.unsafeUpdate(1, [
      ...labels.breaker,
      MetricLabel.make("from", from),
      MetricLabel.make("to", to)
    ])
    const change: api.StateChange = {
      breaker: this.name,
      service: this.service,
      resource: this.resource,
      from,
      to,
      at,
      reason
    }
    // published synchronously, so subscribers see transitions in the order they happened
    if (this.hub !== undefined) this.hub.unsafeOffer(change)
    if (this.sink !== undefined) this.sink(change)
    this.pending.push(change)
  }

  // -- the call path --------------------------------------------------------

  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>

  private run<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.suspend(() => {
      switch (this.current._tag) {
        case "Closed": {
          if (!this.machine.usesClock && this.machine.slowCallMillis === undefined) {
            return Effect.matchCauseEffect(self, this.closedHandlers ?? this.makeClosedHandlers())
          }
          const epoch = this.current.epoch
          return Effect.clockWith((clock) => this.runClosedTimed(self, epoch, clock))
        }
        case "Disabled":
          return self
        default:
          return this.guarded(self)
      }
    })
  }

  /**
   * Synchronous admission for a fused policy stack, to be called while the
   * call is being started (inside the caller's own synchronous step, never
   * ahead of time): when the breaker is Closed and times nothing (no time
   * window, no slow-call rule), the outcome handlers of the current
   * epoch; the caller runs `Effect.matchCauseEffect(effect, handlers)`
   * itself, which is exactly what `execute` would run, minus its suspend step.
   * `undefined`: use `execute` (Disabled, or a state or rule that needs it).
   */
  unsafeClosedHandlers(): Handlers | undefined {
    return this.current._tag === "Closed" && !this.machine.usesClock && this.machine.slowCallMillis === undefined
      ? this.closedHandlers ?? this.makeClosedHandlers()
      : undefined
  }

  // Closed, nothing timed: the rules do not read the clock, so the machine runs at time 0; only when that says the
  // breaker trips is the event applied again at the Clock's time (the transition is pure: same verdict, right time).
  private makeClosedHandlers(): Handlers {
    const epoch = this.current.epoch
    const success: Machine.Event = { _tag: "Success", epoch, durationMillis: 0 }
    const failure: Machine.Event = { _tag: "Failure", epoch, durationMillis: 0 }
    return this.closedHandlers = {
      onSuccess: (a) => {
        this.count(SUCCESS)
        // A success that left this very state unchanged will again: the transition is a pure function of the state
        // (and of an event and a time it does not read here). Skipping it on a healthy breaker: 266 -> 213 ns added
        // per call, where the breaker before the machine took 207 (same-process A/B, bundled, Node 20).
        if (this.current === this.steady) return Effect.succeed(a)
        return this.recordUntimed(success, Effect.succeed(a))
      },
      onFailure: (cause) => {
        const outcome = this.classify(cause)
        this.count(outcome)
        return outcome === FAILURE ? this.recordUntimed(failure, Effect.failCause(cause)) : Effect.failCause(cause)
      }
    }
  }

  private recordUntimed<A, E, R>(event: Machine.Event, exit: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const state = this.current
    const next = Machine.transition(state, event, 0, this.machine)
    if (next.announcements.length === 0) {
      // only a success of the current epoch may mark the state steady (an older epoch's changes nothing anywhere)
      if (next.state === state && event._tag === "Success" && event.epoch === state.epoch) this.steady = state
      this.current = next.state
      return exit
    }
    return Effect.clockWith((clock) => {
      this.apply(event, clock.unsafeCurrentTimeMillis())
      return this.announceThen(exit)
    })
  }

  // Closed with a time window or the slow-call rule: the call is timed with the fiber's Clock.
  private runClosedTimed<A, E, R>(self: Effect.Effect<A, E, R>, epoch: number, clock: Clock.Clock) {
    // a time window alone needs only the end time
    const start = this.machine.slowCallMillis === undefined ? 0 : clock.unsafeCurrentTimeMillis()
    return Effect.matchCauseEffect(self, {
      onSuccess: this.timedSuccess<A>(epoch, clock, start),
      onFailure: this.timedFailure<E>(epoch, clock, start)
    })
  }

  // The per-call handlers are returned by methods, never written inline in an object literal: a bundler that keeps
  // function names (tsx, esbuild's keepNames) would otherwise rename each new closure on every call.
  private timedSuccess<A>(epoch: number, clock: Clock.Clock, start: number) {
    return (a: A): Effect.Effect<A> => this.settle(epoch, clock, start, SUCCESS, Effect.succeed(a))
  }

  private timedFailure<E>(epoch: number, clock: Clock.Clock, start: number) {
    return (cause: Cause.Cause<E>): Effect.Effect<never, E> =>
      this.settle(epoch, clock, start, this.classify(cause), Effect.failCause(cause))
  }

  // A timed call or a probe ended: count it and tell the machine.
  private settle<A, E>(
    epoch: number,
    clock: Clock.Clock,
    start: number,
    outcome: Outcome,
    exit: Effect.Effect<A, E>
  ): Effect.Effect<A, E> {
    const now = clock.unsafeCurrentTimeMillis()
    this.count(outcome)
    const durationMillis = now - start
    this.apply(
      outcome === SUCCESS
        ? { _tag: "Success", epoch, durationMillis }
        : outcome === FAILURE
        ? { _tag: "Failure", epoch, durationMillis }
        : { _tag: "Ignored", epoch },
      now
    )
    return this.announceThen(exit)
  }

  // Every state but Closed and Disabled: the admission decision and the probe slot it may take are made inside an
  // uninterruptible region, and the probe's outcome handler (which frees the slot) runs even when the probe is
  // interrupted.
  private guarded<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.clockWith((clock): Effect.Effect<A, E | CircuitOpenError, R> => {
        const state = this.current._tag
        // changed while we were getting here
        if (state === "Disabled") return restore(self)
        if (state === "Closed") {
          return this.machine.usesClock || this.machine.slowCallMillis !== undefined
            ? this.runClosedTimed(restore(self), this.current.epoch, clock)
            : Effect.matchCauseEffect(restore(self), this.closedHandlers ?? this.makeClosedHandlers())
        }
        const now = clock.unsafeCurrentTimeMillis()
        const admission = this.apply(admitEvent, now).admission!
        if (admission._tag === "Rejected") return this.reject(admission)
        const epoch = admission.epoch
        const probe = Effect.matchCauseEffect(restore(self), {
          onSuccess: this.timedSuccess<A>(epoch, clock, now),
          onFailure: this.timedFailure<E>(epoch, clock, now)
        })
        return this.announceThen(probe)
      })
    )
  }

  private reject(admission: Machine.Admission & { readonly _tag: "Rejected" }) {
    this.rejections++
    rejectionsTotal.unsafeUpdate(1, this.metricLabels().rejection(admission.state))
    const error = new CircuitOpenError({
      breaker: this.name,
      state: admission.state,
      retryAfter: admission.retryAfterMillis === Number.POSITIVE_INFINITY
        ? Duration.infinity
        : Duration.millis(admission.retryAfterMillis)
    })
    const event = T.event(T.Event.breakerRejected, {
      [T.Attr.breakerName]: this.name,
      [T.Attr.breakerState]: admission.state,
      [T.Attr.retryAfterMs]: admission.retryAfterMillis
    })
    return this.announceThen(Effect.zipRight(event, Effect.fail(error)))
  }

  private classify(cause: Cause.Cause<unknown>): Outcome {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const isFailure = this.config.isFailure
      if (isFailure === undefined) return FAILURE
      let counts: boolean
      try {
        counts = isFailure(failure.value)
      } catch {
        counts = true
      }
      if (counts) return FAILURE
      return Cause.isDie(cause) ? FAILURE : IGNORED
    }
    if (Cause.isDie(cause)) return FAILURE
    return Cause.isInterrupted(cause) ? INTERRUPTED : IGNORED
  }

  private count(outcome: Outcome): void {
    switch (outcome) {
      case SUCCESS:
        this.successes++
        break
      case FAILURE:
        this.failures++
        break
      case IGNORED:
        this.ignored++
        break
      case INTERRUPTED:
        this.interrupted++
        break
    }
    callsTotal.unsafeUpdate(1, (this.labels ?? this.metricLabels()).outcome(outcome))
  }

  // -- announcing transitions (log line + hook) -------------------------------

  private announceThen<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    if (this.pending.length === 0 || this.draining) return effect
    // the call that caused the transitions records them on its span
    const events = this.pending.map((change) =>
      T.event(T.Event.breakerStateChange, {
        [T.Attr.breakerName]: change.breaker,
        [T.Attr.breakerFrom]: change.from,
        [T.Attr.breakerTo]: change.to
      })
    )
    return Effect.zipRight(Effect.zipRight(Effect.all(events, { discard: true }), this.startDrain()), effect)
  }

  // Effects built on demand (here and below) rather than held per instance: they are descriptions, rebuilding one
  // costs less than every idle breaker carrying it.
  private startDrain(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.draining || this.pending.length === 0) return Effect.void
      this.draining = true
      return Effect.asVoid(Effect.forkDaemon(Effect.uninterruptible(this.drain())))
    })
  }

  private drain(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const change = this.pending.shift()
      if (change === undefined) {
        this.draining = false
        return Effect.void
      }
      return Effect.zipRight(this.announce(change), this.drain())
    })
  }

  private announce(change: api.StateChange): Effect.Effect<void> {
    const annotations = { breaker: change.breaker, from: change.from, to: change.to, reason: change.reason }
    const message = `Circuit breaker "${change.breaker}": ${change.from} -> ${change.to} (${change.reason})`
    const log = change.to === "Open" || change.to === "Isolated" ? Effect.logWarning(message) : Effect.logInfo(message)
    const hook = this.config.onStateChange
    const run = hook === undefined ? log : Effect.zipRight(
      log,
      Effect.catchAllCause(
        Effect.suspend(() => hook(change)),
        (cause) => Effect.logError(`Circuit breaker "${change.breaker}": onStateChange hook failed`, cause)
      )
    )
    return Effect.annotateLogs(run, annotations)
  }

  // -- observation and manual control --------------------------------------

  // Apply an event at the Clock's time and announce what it changed.
  private command(event: Machine.Event): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      this.apply(event, clock.unsafeCurrentTimeMillis())
      return this.announceThen(Effect.void)
    })
  }

  get state(): Effect.Effect<api.State> {
    return Effect.suspend(() =>
      this.current._tag === "Open"
        ? Effect.zipRight(this.command(tickEvent), Effect.sync(() => this.current._tag))
        : Effect.succeed(this.current._tag)
    )
  }

  get snapshot(): Effect.Effect<api.Snapshot> {
    return Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      // Open → HalfOpen when due, as for any observation
      this.apply(tickEvent, now)
      const state = this.current
      const w = Machine.windowView(this.machine, state, now)
      const snapshot: api.Snapshot = {
        name: this.name,
        service: this.service,
        resource: this.resource,
        state: state._tag,
        calls: this.successes + this.failures + this.ignored + this.interrupted,
        successes: this.successes,
        failures: this.failures,
        ignored: this.ignored,
        interrupted: this.interrupted,
        rejections: this.rejections,
        consecutiveFailures: state.consecutiveFailures,
        windowCalls: w.calls,
        failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
        slowCallRate: w.calls === 0 ? 0 : w.slow / w.calls,
        openedAt: "openedAt" in state ? Option.some(state.openedAt) : Option.none(),
        nextAttemptAt: state._tag === "Open" ? Option.some(state.until) : Option.none(),
        trips: this.trips
      }
      return this.announceThen(Effect.succeed(snapshot))
    })
  }

  get isolate(): Effect.Effect<void> {
    return this.command({ _tag: "Isolate" })
  }

  get reset(): Effect.Effect<void> {
    return this.command({ _tag: "Reset" })
  }

  get disable(): Effect.Effect<void> {
    return this.command({ _tag: "Disable" })
  }

  // -- waiting for a state ------------------------------------------------------

  // Wait until `done` holds for the state. Subscribed before the first look, so no change slips between a look and
  // the wait; while Open, the wait also ends at the reset time, where looking performs the Open → HalfOpen step.
  private waitFor(done: (state: Machine.State) => boolean, tick: boolean): Effect.Effect<void> {
    return Effect.scoped(Effect.gen(this, function*() {
      const changes = yield* this.subscribe
      while (true) {
        if (tick) yield* this.command(tickEvent)
        yield* Queue.takeAll(changes)
        const state = this.current
        if (done(state)) return
        if (state._tag === "Open") {
          const now = yield* Clock.currentTimeMillis
          yield* Effect.raceFirst(Effect.sleep(Math.max(0, state.until - now)), Queue.take(changes))
        } else {
          yield* Queue.take(changes)
        }
      }
    }))
  }

  awaitState(state: api.State): Effect.Effect<void> {
    return this.waitFor((current) => current._tag === state, true)
  }

  get awaitClosed(): Effect.Effect<void> {
    return this.awaitState("Closed")
  }

  /**
   * The live Open → HalfOpen step: waits for each reset time and performs the
   * transition then, with no call needed (runs until interrupted).
   */
  get liveHalfOpen(): Effect.Effect<never> {
    return Effect.andThen(this.waitFor(() => false, true), Effect.never)
  }

  /** The machine's state now, read synchronously by the shared breaker (no Open → HalfOpen step). */
  get unsafeState(): Machine.State {
    return this.current
  }

  /** How a call's cause counts (0 success, 1 failure, 2 ignored, 3 interrupted), for the shared breaker. */
  outcomeOf(cause: Cause.Cause<unknown>): Outcome {
    return this.classify(cause)
  }

  /** Lifetime failures, read synchronously by the registry. */
  get failureCount(): number {
    return this.failures
  }
}

/** @internal */
export const makeWith = (
  options: api.Options,
  sink?: (change: api.StateChange) => void
): Effect.Effect<Breaker, InvalidOptionsError> =>
  Effect.map(
    resolve(options),
    (config) => new Breaker(config, sink)
  )

/** @internal */
export const make = (options: api.Options): Effect.Effect<api.CircuitBreaker, InvalidOptionsError> => makeWith(options)

/** @internal */
export const makeScoped = (
  options: api.ScopedOptions
): Effect.Effect<api.CircuitBreaker, InvalidOptionsError, Scope.Scope> =>
  Effect.tap(
    makeWith(options),
    (breaker) => options.liveHalfOpen === true ? Effect.forkScoped(breaker.liveHalfOpen) : Effect.void
  )
