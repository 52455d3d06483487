/**
 * The circuit breaker's state machine: plain mutable fields in one object,
 * read and written only inside synchronous callbacks (`Effect.suspend`,
 * `Effect.clockWith`, match handlers), which is atomic on a single-threaded
 * runtime. No Ref, no STM, no timer fiber.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as api from "../CircuitBreaker.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { CircuitOpenError } from "../ResilienceError.js"
import { CountWindow, TimeWindow, type Window } from "./circuitBreakerWindow.js"
import * as validate from "./validate.js"

const POLICY = "CircuitBreaker"

// ---------------------------------------------------------------------------
// metrics (module level: one definition, labelled per breaker)
// ---------------------------------------------------------------------------

/** @internal */
export const callsTotal = Metric.counter("effect_resilience_circuit_breaker_calls_total", {
  description: "Calls that went through a circuit breaker, by outcome",
  incremental: true
})

/** @internal */
export const rejectionsTotal = Metric.counter("effect_resilience_circuit_breaker_rejections_total", {
  description: "Calls rejected by a circuit breaker, by state",
  incremental: true
})

/** @internal */
export const transitionsTotal = Metric.counter("effect_resilience_circuit_breaker_transitions_total", {
  description: "Circuit breaker state changes",
  incremental: true
})

/** @internal */
export const stateGauge = Metric.gauge("effect_resilience_circuit_breaker_state", {
  description: "Circuit breaker state: 0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled"
})

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/** @internal */
export interface Config {
  readonly name: string
  readonly service: string
  readonly resource: string
  readonly failureThreshold: number
  readonly failureRateThreshold: number | undefined
  readonly slowCallRateThreshold: number | undefined
  readonly slowCallMillis: number
  readonly windowType: "count" | "time"
  readonly windowSize: number
  readonly minimumCalls: number
  readonly resetMillis: number
  readonly backoffFactor: number
  readonly maxResetMillis: number
  readonly halfOpenMaxProbes: number
  readonly successThreshold: number
  readonly isFailure: ((error: unknown) => boolean) | undefined
  readonly onStateChange: ((change: api.StateChange) => Effect.Effect<void, unknown>) | undefined
}

const MAX_COUNT_WINDOW = 1_000_000
const MAX_TIME_WINDOW = 86_400

const optionalRatio = (option: string, value: number | undefined) =>
  value === undefined ? Effect.succeed(undefined) : validate.ratio(POLICY, option, value, 1)

const optionalFunction = <F>(option: string, value: F | undefined): Effect.Effect<F | undefined, InvalidOptionsError> =>
  value === undefined || typeof value === "function"
    ? Effect.succeed(value)
    : validate.fail(POLICY, option, value, "must be a function")

/** @internal */
export const resolve = (options: api.Options): Effect.Effect<Config, InvalidOptionsError> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) {
      return yield* validate.fail(POLICY, "options", options, "must be an object")
    }
    const service = yield* validate.name(POLICY, "service", options.service)
    const resource = yield* validate.name(POLICY, "resource", options.resource)

    const failureThreshold = options.failureThreshold ?? 5
    if (
      !(failureThreshold === Number.POSITIVE_INFINITY || (Number.isInteger(failureThreshold) && failureThreshold >= 1))
    ) {
      return yield* validate.fail(POLICY, "failureThreshold", failureThreshold, "must be an integer >= 1 or Infinity")
    }
    const failureRateThreshold = yield* optionalRatio("failureRateThreshold", options.failureRateThreshold)
    const slowCallRateThreshold = yield* optionalRatio("slowCallRateThreshold", options.slowCallRateThreshold)
    const slowCallDuration = yield* validate.duration(
      POLICY,
      "slowCallDuration",
      options.slowCallDuration,
      "60 seconds"
    )

    const windowType = options.windowType ?? "count"
    if (windowType !== "count" && windowType !== "time") {
      return yield* validate.fail(POLICY, "windowType", windowType, "must be \"count\" or \"time\"")
    }
    const isCount = windowType === "count"
    const windowSize = yield* validate.positiveInt(POLICY, "windowSize", options.windowSize, isCount ? 100 : 60)
    const maxWindow = isCount ? MAX_COUNT_WINDOW : MAX_TIME_WINDOW
    if (windowSize > maxWindow) {
      return yield* validate.fail(
        POLICY,
        "windowSize",
        windowSize,
        `must be at most ${maxWindow} ${isCount ? "calls" : "seconds"}`
      )
    }
    const minimumCalls = yield* validate.positiveInt(
      POLICY,
      "minimumCalls",
      options.minimumCalls,
      isCount ? Math.min(10, windowSize) : 10
    )
    if (isCount && minimumCalls > windowSize) {
      return yield* validate.fail(POLICY, "minimumCalls", minimumCalls, "must be <= windowSize for a count window")
    }

    const resetTimeout = yield* validate.duration(POLICY, "resetTimeout", options.resetTimeout, "30 seconds")
    const resetMillis = Duration.toMillis(resetTimeout)
    const backoffFactor = options.resetBackoffFactor ?? 1
    if (!(Number.isFinite(backoffFactor) && backoffFactor >= 1)) {
      return yield* validate.fail(POLICY, "resetBackoffFactor", backoffFactor, "must be a finite number >= 1")
    }
    const maxResetTimeout = yield* validate.duration(
      POLICY,
      "maxResetTimeout",
      options.maxResetTimeout,
      Duration.millis(Math.max(resetMillis, 5 * 60_000))
    )
    const maxResetMillis = Duration.toMillis(maxResetTimeout)
    if (maxResetMillis < resetMillis) {
      return yield* validate.fail(POLICY, "maxResetTimeout", options.maxResetTimeout, "must be >= resetTimeout")
    }

    const halfOpenMaxProbes = yield* validate.positiveInt(POLICY, "halfOpenMaxProbes", options.halfOpenMaxProbes, 1)
    const successThreshold = yield* validate.positiveInt(POLICY, "successThreshold", options.successThreshold, 1)
    const isFailure = yield* optionalFunction("isFailure", options.isFailure)
    const onStateChange = yield* optionalFunction("onStateChange", options.onStateChange)

    return {
      name: `${service}/${resource}`,
      service,
      resource,
      failureThreshold,
      failureRateThreshold,
      slowCallRateThreshold,
      slowCallMillis: Duration.toMillis(slowCallDuration),
      windowType,
      windowSize,
      minimumCalls,
      resetMillis,
      backoffFactor,
      maxResetMillis,
      halfOpenMaxProbes,
      successThreshold,
      isFailure,
      onStateChange
    }
  })

// ---------------------------------------------------------------------------
// the state machine
// ---------------------------------------------------------------------------

const CLOSED = 0
const OPEN = 1
const HALF_OPEN = 2
const ISOLATED = 3
const DISABLED = 4
type StateCode = 0 | 1 | 2 | 3 | 4

const stateNames: ReadonlyArray<api.State> = ["Closed", "Open", "HalfOpen", "Isolated", "Disabled"]
const gaugeValues: ReadonlyArray<number> = [0, 2, 1, 3, 4]

// outcome of one finished call
const SUCCESS = 0
const FAILURE = 1
const IGNORED = 2
const INTERRUPTED = 3
type Outcome = 0 | 1 | 2 | 3

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
  private rejections: Array<ReadonlyArray<MetricLabel.MetricLabel> | undefined> | undefined = undefined

  constructor(name: string, service: string) {
    this.breaker = [MetricLabel.make("breaker", name), MetricLabel.make("service", service)]
  }

  outcome(outcome: Outcome): ReadonlyArray<MetricLabel.MetricLabel> {
    return this.outcomes[outcome] ??= [...this.breaker, MetricLabel.make("outcome", outcomeNames[outcome])]
  }

  rejection(state: StateCode): ReadonlyArray<MetricLabel.MetricLabel> {
    const rejections = this.rejections ??= [undefined, undefined, undefined, undefined, undefined]
    return rejections[state] ??= [...this.breaker, MetricLabel.make("state", stateNames[state])]
  }
}

/** @internal */
export type Handlers = {
  readonly onSuccess: (a: any) => Effect.Effect<any, any, any>
  readonly onFailure: (cause: Cause.Cause<any>) => Effect.Effect<any, any, any>
}

/** @internal */
export class Breaker implements api.CircuitBreaker {
  readonly name: string
  readonly service: string
  readonly resource: string

  private current: StateCode = CLOSED
  // bumped on every transition: a call remembers the generation that admitted it, and its outcome only moves the
  // state machine when no transition happened meanwhile
  private gen = 0
  private consecutiveFailures = 0
  private consecutiveTrips = 0
  private openedAt: number | undefined = undefined
  private nextAttemptAt = 0
  private probes = 0
  private probeSuccesses = 0

  private successes = 0
  private failures = 0
  private ignored = 0
  private interrupted = 0
  private rejections = 0
  private trips = 0

  private readonly window: Window
  private readonly needsClock: boolean
  private readonly rateRules: boolean
  // the Closed state's outcome handlers for the current generation, made at the first call after it began
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
    this.window = config.windowType === "count" ? new CountWindow(config.windowSize) : new TimeWindow(config.windowSize)
    this.needsClock = config.windowType === "time" || config.slowCallRateThreshold !== undefined
    this.rateRules = config.failureRateThreshold !== undefined || config.slowCallRateThreshold !== undefined
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
    const labels = new Labels(this.config.name, this.config.service)
    this.labels = labels
    stateGauge.unsafeUpdate(gaugeValues[this.current], labels.breaker)
    return labels
  }

  // -- the call path --------------------------------------------------------

  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>

  private run<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.suspend(() => {
      switch (this.current) {
        case CLOSED: {
          if (!this.needsClock) return Effect.matchCauseEffect(self, this.closedHandlers ?? this.makeClosedHandlers())
          const gen = this.gen
          return Effect.clockWith((clock) => this.runClosedTimed(self, gen, clock))
        }
        case DISABLED:
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
   * generation; the caller runs `Effect.matchCauseEffect(effect, handlers)`
   * itself, which is exactly what `execute` would run, minus its suspend step.
   * `undefined`: use `execute` (Disabled, or a state or rule that needs it).
   */
  unsafeClosedHandlers(): Handlers | undefined {
    return this.current === CLOSED && !this.needsClock ? this.closedHandlers ?? this.makeClosedHandlers() : undefined
  }

  private makeClosedHandlers(): Handlers {
    const gen = this.gen
    return this.closedHandlers = {
      onSuccess: (a) => {
        const trip = this.recordClosed(gen, SUCCESS, false, 0)
        return trip === undefined ? Effect.succeed(a) : this.tripThen(gen, trip, Effect.succeed(a))
      },
      onFailure: (cause) => {
        const trip = this.recordClosed(gen, this.classify(cause), false, 0)
        return trip === undefined ? Effect.failCause(cause) : this.tripThen(gen, trip, Effect.failCause(cause))
      }
    }
  }

  // Closed with a time window or the slow-call rule: the call is timed with the fiber's Clock.
  private runClosedTimed<A, E, R>(self: Effect.Effect<A, E, R>, gen: number, clock: Clock.Clock) {
    // a time window alone needs only the end time
    const start = this.config.slowCallRateThreshold === undefined ? 0 : clock.unsafeCurrentTimeMillis()
    return Effect.matchCauseEffect(self, {
      onSuccess: this.timedSuccess<A>(gen, clock, start),
      onFailure: this.timedFailure<E>(gen, clock, start)
    })
  }

  // The per-call handlers are returned by methods, never written inline in an object literal: a bundler that keeps
  // function names (tsx, esbuild's keepNames) would otherwise rename each new closure on every call.
  private timedSuccess<A>(gen: number, clock: Clock.Clock, start: number) {
    return (a: A): Effect.Effect<A> => {
      const now = clock.unsafeCurrentTimeMillis()
      const trip = this.recordClosed(gen, SUCCESS, this.isSlow(start, now), now)
      return trip === undefined ? Effect.succeed(a) : this.tripAt(gen, trip, now, Effect.succeed(a))
    }
  }

  private timedFailure<E>(gen: number, clock: Clock.Clock, start: number) {
    return (cause: Cause.Cause<E>): Effect.Effect<never, E> => {
      const now = clock.unsafeCurrentTimeMillis()
      const trip = this.recordClosed(gen, this.classify(cause), this.isSlow(start, now), now)
      return trip === undefined ? Effect.failCause(cause) : this.tripAt(gen, trip, now, Effect.failCause(cause))
    }
  }

  // Every state but Closed and Disabled: the admission decision and the probe slot it may take are made inside an
  // uninterruptible region, and the probe's outcome handler (which frees the slot) runs even when the probe is
  // interrupted.
  private guarded<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.clockWith((clock): Effect.Effect<A, E | CircuitOpenError, R> => {
        const now = clock.unsafeCurrentTimeMillis()
        switch (this.current) {
          case CLOSED:
            // changed while we were getting here
            return this.needsClock
              ? this.runClosedTimed(restore(self), this.gen, clock)
              : Effect.matchCauseEffect(restore(self), this.closedHandlers ?? this.makeClosedHandlers())
          case DISABLED:
            return restore(self)
          case ISOLATED:
            return this.reject(ISOLATED, Duration.infinity)
          case OPEN: {
            if (now < this.nextAttemptAt) return this.reject(OPEN, Duration.millis(this.nextAttemptAt - now))
            this.transition(HALF_OPEN, now, "reset-timeout-elapsed")
            return this.probe(restore(self), clock, now)
          }
          case HALF_OPEN:
            return this.probe(restore(self), clock, now)
        }
      })
    )
  }

  private probe<A, E, R>(self: Effect.Effect<A, E, R>, clock: Clock.Clock, start: number) {
    if (this.probes >= this.config.halfOpenMaxProbes) return this.reject(HALF_OPEN, Duration.zero)
    this.probes++
    const gen = this.gen
    const run = Effect.matchCauseEffect(self, {
      onSuccess: this.probeSuccess<A>(gen, clock, start),
      onFailure: this.probeFailure<E>(gen, clock, start)
    })
    return this.announceThen(run)
  }

  private probeSuccess<A>(gen: number, clock: Clock.Clock, start: number) {
    return (a: A): Effect.Effect<A> => {
      const now = clock.unsafeCurrentTimeMillis()
      this.recordProbe(gen, SUCCESS, this.isSlow(start, now), now)
      return this.announceThen(Effect.succeed(a))
    }
  }

  private probeFailure<E>(gen: number, clock: Clock.Clock, start: number) {
    return (cause: Cause.Cause<E>): Effect.Effect<never, E> => {
      const now = clock.unsafeCurrentTimeMillis()
      this.recordProbe(gen, this.classify(cause), this.isSlow(start, now), now)
      return this.announceThen(Effect.failCause(cause))
    }
  }

  private reject(state: StateCode, retryAfter: Duration.Duration) {
    this.rejections++
    rejectionsTotal.unsafeUpdate(1, this.metricLabels().rejection(state))
    const error = new CircuitOpenError({
      breaker: this.name,
      state: stateNames[state] as "Open" | "HalfOpen" | "Isolated",
      retryAfter
    })
    return this.announceThen(Effect.fail(error))
  }

  private isSlow(start: number, now: number): boolean {
    return this.config.slowCallRateThreshold !== undefined && now - start > this.config.slowCallMillis
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

  // Record a call admitted while Closed; returns the reason to trip, if a rule fired.
  private recordClosed(gen: number, outcome: Outcome, slow: boolean, now: number): api.Reason | undefined {
    this.count(outcome)
    if (gen !== this.gen) return undefined
    if (outcome === SUCCESS) {
      this.consecutiveFailures = 0
      this.window.record(now, false, slow)
    } else if (outcome === FAILURE) {
      this.consecutiveFailures++
      this.window.record(now, true, slow)
      if (this.consecutiveFailures >= this.config.failureThreshold) return "consecutive-failures"
    } else {
      return undefined
    }
    return this.rateRules ? this.checkRates() : undefined
  }

  private checkRates(): api.Reason | undefined {
    const w = this.window
    if (w.calls < this.config.minimumCalls) return undefined
    const { failureRateThreshold, slowCallRateThreshold } = this.config
    if (failureRateThreshold !== undefined && w.failures >= failureRateThreshold * w.calls) return "failure-rate"
    if (slowCallRateThreshold !== undefined && w.slow >= slowCallRateThreshold * w.calls) return "slow-call-rate"
    return undefined
  }

  private recordProbe(gen: number, outcome: Outcome, slow: boolean, now: number): void {
    this.count(outcome)
    // a transition meanwhile (reset, isolate, another probe's verdict) already dropped every probe slot
    if (gen !== this.gen) return
    this.probes--
    if (outcome === FAILURE) {
      this.consecutiveFailures++
      this.open(now, "probe-failed")
    } else if (outcome === SUCCESS) {
      if (slow) return this.open(now, "probe-slow")
      this.consecutiveFailures = 0
      if (++this.probeSuccesses >= this.config.successThreshold) this.close(now, "probe-succeeded")
    }
  }

  private tripThen<A, E, R>(gen: number, reason: api.Reason, exit: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.clockWith((clock) => this.tripAt(gen, reason, clock.unsafeCurrentTimeMillis(), exit))
  }

  private tripAt<A, E, R>(
    gen: number,
    reason: api.Reason,
    now: number,
    exit: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> {
    if (gen === this.gen && this.current === CLOSED) this.open(now, reason)
    return this.announceThen(exit)
  }

  // -- transitions ----------------------------------------------------------

  private open(now: number, reason: api.Reason): void {
    this.trips++
    this.consecutiveTrips++
    const { backoffFactor, maxResetMillis, resetMillis } = this.config
    const duration = Math.min(resetMillis * Math.pow(backoffFactor, this.consecutiveTrips - 1), maxResetMillis)
    this.openedAt = now
    this.nextAttemptAt = now + duration
    this.transition(OPEN, now, reason)
  }

  private close(now: number, reason: api.Reason): void {
    this.clearCounters()
    this.transition(CLOSED, now, reason)
  }

  private clearCounters(): void {
    this.consecutiveFailures = 0
    this.consecutiveTrips = 0
    this.openedAt = undefined
    this.nextAttemptAt = 0
    this.window.clear()
  }

  private transition(to: StateCode, now: number, reason: api.Reason): void {
    const from = this.current
    this.current = to
    this.gen++
    this.probes = 0
    this.probeSuccesses = 0
    this.closedHandlers = undefined
    const labels = this.metricLabels()
    stateGauge.unsafeUpdate(gaugeValues[to], labels.breaker)
    transitionsTotal.unsafeUpdate(1, [
      ...labels.breaker,
      MetricLabel.make("from", stateNames[from]),
      MetricLabel.make("to", stateNames[to])
    ])
    const change: api.StateChange = {
      breaker: this.name,
      service: this.service,
      resource: this.resource,
      from: stateNames[from],
      to: stateNames[to],
      at: now,
      reason
    }
    // published synchronously, so subscribers see transitions in the order they happened
    if (this.hub !== undefined) this.hub.unsafeOffer(change)
    if (this.sink !== undefined) this.sink(change)
    this.pending.push(change)
  }

  // Open → HalfOpen once the reset timeout has passed, on any observation.
  private observe(now: number): void {
    if (this.current === OPEN && now >= this.nextAttemptAt) this.transition(HALF_OPEN, now, "reset-timeout-elapsed")
  }

  // -- announcing transitions (log line + hook) -------------------------------

  private announceThen<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return this.pending.length === 0 || this.draining ? effect : Effect.zipRight(this.startDrain(), effect)
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

  get state(): Effect.Effect<api.State> {
    return Effect.suspend(() =>
      this.current === OPEN
        ? Effect.clockWith((clock) => {
          this.observe(clock.unsafeCurrentTimeMillis())
          return this.announceThen(Effect.succeed(stateNames[this.current]))
        })
        : Effect.succeed(stateNames[this.current])
    )
  }

  get snapshot(): Effect.Effect<api.Snapshot> {
    return Effect.clockWith((clock) => this.snapshotAt(clock.unsafeCurrentTimeMillis()))
  }

  private snapshotAt(now: number): Effect.Effect<api.Snapshot> {
    this.observe(now)
    const w = this.window
    w.refresh(now)
    const state = this.current
    const hasOpened = state === OPEN || state === HALF_OPEN || state === ISOLATED
    const snapshot: api.Snapshot = {
      name: this.name,
      service: this.service,
      resource: this.resource,
      state: stateNames[state],
      calls: this.successes + this.failures + this.ignored + this.interrupted,
      successes: this.successes,
      failures: this.failures,
      ignored: this.ignored,
      interrupted: this.interrupted,
      rejections: this.rejections,
      consecutiveFailures: this.consecutiveFailures,
      windowCalls: w.calls,
      failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
      slowCallRate: w.calls === 0 ? 0 : w.slow / w.calls,
      openedAt: hasOpened && this.openedAt !== undefined ? Option.some(this.openedAt) : Option.none(),
      nextAttemptAt: state === OPEN ? Option.some(this.nextAttemptAt) : Option.none(),
      trips: this.trips
    }
    return this.announceThen(Effect.succeed(snapshot))
  }

  get isolate(): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      if (this.current !== ISOLATED) {
        const now = clock.unsafeCurrentTimeMillis()
        this.openedAt = now
        this.nextAttemptAt = Number.POSITIVE_INFINITY
        this.transition(ISOLATED, now, "isolated")
      }
      return this.announceThen(Effect.void)
    })
  }

  get reset(): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      this.clearCounters()
      if (this.current !== CLOSED) this.transition(CLOSED, clock.unsafeCurrentTimeMillis(), "reset")
      return this.announceThen(Effect.void)
    })
  }

  get disable(): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      if (this.current !== DISABLED) {
        this.openedAt = undefined
        this.nextAttemptAt = 0
        this.transition(DISABLED, clock.unsafeCurrentTimeMillis(), "disabled")
      }
      return this.announceThen(Effect.void)
    })
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
