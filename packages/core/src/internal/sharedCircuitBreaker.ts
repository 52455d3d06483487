/**
 * The fleet-wide circuit breaker: a local `Breaker` (the in-process one, same
 * options) plus the fleet's state, a `CircuitBreakerMachine.State` and who
 * reported failures, kept in a `CircuitBreakerStore` entry. Decisions on the
 * shared state run `Machine.transition` on the entry last seen and write the
 * result with `compareAndSet` (a conflict hands back the current entry: the
 * retry costs no extra read).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as api from "../CircuitBreaker.js"
import * as Machine from "../CircuitBreakerMachine.js"
import * as Store from "../CircuitBreakerStore.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { CircuitOpenError } from "../ResilienceError.js"
import type * as shared from "../SharedCircuitBreaker.js"
import * as breaker from "./circuitBreaker.js"
import * as schemas from "./options.js"
import * as T from "./telemetry.js"

const POLICY = "SharedCircuitBreaker"

/** @internal */
export const storeErrorsTotal = Metric.fromMetricKey(T.breakerStoreErrors)

/** @internal */
export const sharedGauge = Metric.fromMetricKey(T.breakerShared)

// ---------------------------------------------------------------------------
// the shared value
// ---------------------------------------------------------------------------

/** The fleet's state as this instance last saw it. @internal */
export interface Fleet {
  // the store entry's version (0: no entry)
  readonly version: number
  readonly state: Machine.State
  // instances with failures in the fleet's current window: [instance, failures, last failure at (store clock)]
  readonly failing: ReadonlyArray<readonly [string, number, number]>
  // the last state change a write made, so that every instance announces it with its reason
  readonly change: Machine.Announcement | undefined
  // when the last probe slot was granted (store clock): slots held longer than the probe lease are taken back
  readonly probedAt?: number | undefined
}

// at most this many instances are remembered as failing (the oldest reports are dropped first)
const MAX_FAILING = 1000
// compare-and-set attempts per decision before giving up on it (each conflict hands back the current entry)
const MAX_ATTEMPTS = 5

const encodeFleet = (fleet: Fleet): string =>
  JSON.stringify({
    v: 1,
    state: Machine.encodeState(fleet.state),
    failing: fleet.failing,
    change: fleet.change === undefined
      ? null
      : [fleet.change.from, fleet.change.to, fleet.change.reason, fleet.change.at],
    probedAt: fleet.probedAt ?? null
  })

const stateNames: ReadonlyArray<string> = ["Closed", "Open", "HalfOpen", "Isolated", "Disabled"]

/** A stored entry as a `Fleet`; a value this configuration cannot read counts as the initial state. @internal */
export const decodeFleet = (config: Machine.Config, entry: Option.Option<Store.Entry>): Fleet => {
  if (Option.isNone(entry)) return { version: 0, state: Machine.initial(config), failing: [], change: undefined }
  const version = entry.value.version
  const initialFleet: Fleet = { version, state: Machine.initial(config), failing: [], change: undefined }
  let json: unknown
  try {
    json = JSON.parse(entry.value.value)
  } catch {
    return initialFleet
  }
  if (typeof json !== "object" || json === null || (json as { v?: unknown }).v !== 1) return initialFleet
  const o = json as { state?: unknown; failing?: unknown; change?: unknown }
  const state = Machine.decodeState(config, o.state)
  if (state._tag === "Left") return initialFleet
  const failing: Array<readonly [string, number, number]> = []
  if (Array.isArray(o.failing)) {
    for (const item of o.failing.slice(0, MAX_FAILING)) {
      if (
        Array.isArray(item) && typeof item[0] === "string" && typeof item[1] === "number" &&
        typeof item[2] === "number"
      ) failing.push([item[0], item[1], item[2]])
    }
  }
  let change: Machine.Announcement | undefined
  const c = o.change
  if (
    Array.isArray(c) && stateNames.includes(c[0]) && stateNames.includes(c[1]) && typeof c[2] === "string" &&
    typeof c[3] === "number"
  ) change = { from: c[0], to: c[1], reason: c[2] as Machine.Reason, at: c[3] }
  const probedAt = typeof (o as { probedAt?: unknown }).probedAt === "number"
    ? (o as { probedAt: number }).probedAt
    : undefined
  return { version, state: state.right, failing, change, probedAt }
}

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/** @internal */
export interface FleetConfig {
  readonly instanceId: string
  readonly quorum: number
  readonly quorumWindowMillis: number
  readonly maxBatch: number
  readonly intervalMillis: number
  readonly maxBuffer: number
  readonly storeTimeoutMillis: number
  readonly ttlMillis: number
  readonly probeLeaseMillis: number
}

const decodeShared = schemas.decoder(POLICY, schemas.SharedCircuitBreakerOptions)

const millis = (d: Duration.Duration | undefined, fallback: number) => d === undefined ? fallback : Duration.toMillis(d)

/** A random id per breaker (Node, Deno, Bun and browsers have `crypto.randomUUID`). @internal */
export const randomInstanceId = (): string => {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  return crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}

/** The fleet options, defaults applied; `machine` is the breaker's (for the default ttl and its bound). @internal */
export const resolveFleet = (
  options: shared.FleetOptions,
  machine: Machine.Config | undefined
): Effect.Effect<FleetConfig, InvalidOptionsError> =>
  Effect.flatMap(decodeShared(options), (decoded) => {
    const maxReset = machine?.maxResetMillis ?? 0
    let windowMillis = 0
    for (const rule of machine?.rules ?? []) {
      const initial: unknown = rule.initial
      if (typeof initial === "object" && initial !== null && (initial as { _tag?: unknown })._tag === "TimeWindow") {
        windowMillis = Math.max(windowMillis, (initial as { size: number }).size * 1000)
      }
    }
    const ttlMillis = millis(decoded.ttl, 2 * Math.max(maxReset, windowMillis, 60_000))
    if (machine !== undefined && ttlMillis <= maxReset) {
      return Effect.fail(
        schemas.invalid(POLICY, "ttl", decoded.ttl, "must be longer than the breaker's maxResetTimeout")
      )
    }
    return Effect.succeed({
      instanceId: decoded.instanceId ?? randomInstanceId(),
      quorum: decoded.quorum?.instances ?? 2,
      quorumWindowMillis: millis(decoded.quorum?.window, Math.max(windowMillis, 60_000)),
      maxBatch: decoded.report?.maxBatch ?? 100,
      intervalMillis: millis(decoded.report?.interval, 100),
      maxBuffer: decoded.report?.maxBuffer ?? 10_000,
      storeTimeoutMillis: millis(decoded.storeTimeout, 250),
      ttlMillis,
      probeLeaseMillis: millis(decoded.probeLease, Math.max(machine?.resetMillis ?? 0, 10_000))
    })
  })

// ---------------------------------------------------------------------------
// the breaker
// ---------------------------------------------------------------------------

const FAILURE: breaker.Outcome = 1
const SUCCESS: breaker.Outcome = 0

type Outcome = Machine.Event & { readonly _tag: "Success" | "Failure" | "Ignored" }

// a compare-and-set decision: the next fleet state to write (undefined: nothing to write) and what to return
interface Decision<R> {
  readonly next: Fleet | undefined
  readonly result: R
}

const admitEvent: Machine.Event = { _tag: "Admit" }

/** @internal */
export class SharedBreaker implements api.CircuitBreaker {
  readonly name: string
  readonly service: string
  readonly resource: string
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
  private readonly machine: Machine.Config
  private readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly fleetLabels: ReadonlyArray<MetricLabel.MetricLabel>

  // the fleet's state as last seen, and the store's clock minus ours (from the last reply)
  fleet: Fleet
  private offset = 0
  mode: "shared" | "local-fallback" = "shared"

  // outcomes of calls admitted while the fleet was Closed, waiting for the next batch (times: our clock, NaN: "at
  // the batch's time", for breakers whose rules read no clock)
  private outcomes: Array<Outcome> = []
  private outcomeTimes: Array<number> = []
  private dropped = 0
  private readonly wake: Queue.Queue<void>
  private readonly announcements: Queue.Queue<api.StateChange>

  // at most one probe-slot request in flight per instance
  private probing = false

  // the fused Closed handlers: built per (local handlers, fleet epoch)
  private fusedFor: breaker.Handlers | undefined = undefined
  private fusedEpoch = -1
  private fused: breaker.Handlers | undefined = undefined

  private hub: PubSub.PubSub<api.StateChange> | undefined = undefined

  constructor(
    readonly local: breaker.Breaker,
    readonly config: FleetConfig,
    private readonly store: Store.Service,
    private readonly sink: ((change: api.StateChange) => void) | undefined
  ) {
    this.name = local.name
    this.service = local.service
    this.resource = local.resource
    this.machine = local.config.machine
    this.fleet = { version: 0, state: Machine.initial(this.machine), failing: [], change: undefined }
    this.labels = T.baseLabels("circuit_breaker", this.service, this.resource)
    this.fleetLabels = [...this.labels, MetricLabel.make("scope", "fleet")]
    this.wake = Effect.runSync(Queue.sliding<void>(1))
    // bounded: a fleet flapping faster than its log lines are written drops the oldest lines, never blocks
    this.announcements = Effect.runSync(Queue.sliding<api.StateChange>(256))
    this.execute = this.run.bind(this)
  }

  // -- events ---------------------------------------------------------------------

  private pubsub(): PubSub.PubSub<api.StateChange> {
    return this.hub ??= Effect.runSync(PubSub.unbounded<api.StateChange>())
  }

  /** Where the local breaker's changes go: this breaker's subscribers and the registry's. */
  readonly forward = (change: api.StateChange): void => {
    if (this.hub !== undefined) this.hub.unsafeOffer(change)
    if (this.sink !== undefined) this.sink(change)
  }

  get events(): Stream.Stream<api.StateChange> {
    return Stream.fromPubSub(this.pubsub())
  }

  get subscribe(): Effect.Effect<Queue.Dequeue<api.StateChange>, never, Scope.Scope> {
    return Effect.suspend(() => PubSub.subscribe(this.pubsub()))
  }

  // -- the store's clock ----------------------------------------------------------------

  private storeNow(clock: Clock.Clock): number {
    return clock.unsafeCurrentTimeMillis() + this.offset
  }

  private timed<A, R>(operation: string, effect: Effect.Effect<A, Store.CircuitBreakerStoreError, R>) {
    // disconnected: a store call that ignores interruption cannot hold the caller past the budget; interruptible:
    // inside an uninterruptible region (a probe's admission, an exit handler) a timeout would never fire
    return Effect.interruptible(Effect.timeoutFail(Effect.disconnect(effect), {
      duration: this.config.storeTimeoutMillis,
      onTimeout: () =>
        new Store.CircuitBreakerStoreError({
          operation,
          message: `no answer within ${this.config.storeTimeoutMillis} ms`
        })
    }))
  }

  // -- applying what the store says -------------------------------------------------------

  /** Take a fleet state seen in a reply (only if newer) or pushed (in order, so taken as it comes). */
  applyFleet(next: Fleet, now: number, pushed: boolean): void {
    const prev = this.fleet
    // a pushed version 1 after a higher one: the entry expired and was written again
    if (next.version <= prev.version && !(pushed && next.version === 1 && prev.version !== 1)) return
    this.replaceFleet(next, now)
  }

  /** Take a fleet state as the truth (a conflict's current entry, a re-read), announcing a change of state. */
  replaceFleet(next: Fleet, now: number): void {
    const prev = this.fleet
    this.fleet = next
    if (prev.state._tag !== next.state._tag) {
      const change =
        next.change !== undefined && next.change.to === next.state._tag && next.change.from === prev.state._tag
          ? next.change
          : { from: prev.state._tag, to: next.state._tag, reason: next.change?.reason ?? "reset", at: now }
      this.announceFleet(change)
    }
  }

  private announceFleet(announcement: Machine.Announcement): void {
    const { at, from, reason, to } = announcement
    breaker.transitionsTotal.unsafeUpdate(1, [
      ...this.fleetLabels,
      MetricLabel.make("from", from),
      MetricLabel.make("to", to)
    ])
    breaker.stateGauge.unsafeUpdate(Machine.gaugeValue(to), this.fleetLabels)
    const change: api.StateChange = {
      breaker: this.name,
      service: this.service,
      resource: this.resource,
      from,
      to,
      at,
      reason,
      fleet: true
    }
    this.forward(change)
    this.announcements.unsafeOffer(change)
  }

  /**
   * Log each fleet transition, in order, on a fiber of the breaker's scope (so
   * the logger of the program that made the breaker writes it). Runs until
   * interrupted.
   */
  get announcer(): Effect.Effect<never> {
    return Effect.forever(Effect.flatMap(Queue.take(this.announcements), (change) => {
      const message = `Circuit breaker "${change.breaker}" (fleet): ${change.from} -> ${change.to} (${change.reason})`
      const log = change.to === "Open" || change.to === "Isolated"
        ? Effect.logWarning(message)
        : Effect.logInfo(message)
      return Effect.annotateLogs(log, {
        breaker: change.breaker,
        from: change.from,
        to: change.to,
        reason: change.reason
      })
    }))
  }

  private entryFleet(entry: Option.Option<Store.Entry>): Fleet {
    return decodeFleet(this.machine, entry)
  }

  // -- store health ---------------------------------------------------------------------

  storeFailed(error: Store.CircuitBreakerStoreError): Effect.Effect<void> {
    return Effect.suspend(() => {
      storeErrorsTotal.unsafeUpdate(1, [...this.labels, MetricLabel.make("call", error.operation)])
      if (this.mode === "local-fallback") return Effect.void
      this.mode = "local-fallback"
      sharedGauge.unsafeUpdate(0, this.labels)
      return Effect.logWarning(
        `Circuit breaker "${this.name}": its shared-state store failed (${error.operation}: ${error.message}); ` +
          "deciding on the local breaker alone until the store answers again"
      ).pipe(Effect.annotateLogs({ breaker: this.name }))
    })
  }

  storeRecovered(): Effect.Effect<void> {
    return Effect.suspend(() => {
      sharedGauge.unsafeUpdate(1, this.labels)
      if (this.mode === "shared") return Effect.void
      this.mode = "shared"
      this.wake.unsafeOffer(undefined)
      return Effect.logInfo(`Circuit breaker "${this.name}": its shared-state store answers again; sharing state`)
        .pipe(Effect.annotateLogs({ breaker: this.name }))
    })
  }

  // -- compare-and-set ------------------------------------------------------------------

  /**
   * Decide on the fleet state last seen and write the result; on a conflict,
   * decide again on the entry the conflict handed back. `undefined` when every
   * attempt conflicted.
   */
  private decide<R>(
    operation: string,
    decide: (fleet: Fleet, now: number) => Decision<R>
  ): Effect.Effect<R | undefined, Store.CircuitBreakerStoreError> {
    const attempt = (n: number): Effect.Effect<R | undefined, Store.CircuitBreakerStoreError> =>
      Effect.clockWith((clock) => {
        const fleet = this.fleet
        const decision = decide(fleet, this.storeNow(clock))
        const next = decision.next
        if (next === undefined) return Effect.succeed(decision.result)
        return Effect.flatMap(
          this.timed(
            operation,
            this.store.compareAndSet(this.name, fleet.version, encodeFleet(next), this.config.ttlMillis)
          ),
          (reply): Effect.Effect<R | undefined, Store.CircuitBreakerStoreError> => {
            this.offset = reply.now - clock.unsafeCurrentTimeMillis()
            if (reply._tag === "Written") {
              this.applyFleet({ ...next, version: reply.version }, reply.now, false)
              return Effect.succeed(decision.result)
            }
            // somebody wrote first (or the entry expired): what is stored now is the state to decide on
            this.replaceFleet(this.entryFleet(reply.current), reply.now)
            return n + 1 >= MAX_ATTEMPTS ? Effect.succeed(undefined) : attempt(n + 1)
          }
        )
      })
    return attempt(0)
  }

  // -- batches of outcomes ---------------------------------------------------------------

  private report(event: Outcome, at: number): void {
    const events = this.outcomes
    if (events.length >= this.config.maxBuffer) {
      // bounded: drop the oldest quarter at once (amortized O(1) per call while the store is away)
      const drop = Math.max(1, events.length >> 2)
      events.splice(0, drop)
      this.outcomeTimes.splice(0, drop)
      this.dropped += drop
    }
    events.push(event)
    this.outcomeTimes.push(at)
    // a failure goes at once (with whatever waits beside it): the fleet's window learns of trouble within one round
    // trip, before each instance has spent its own threshold of failed calls; successes wait for a full batch or the
    // interval. Only the failure path pays, and the sender is one fiber, so at most one write is in flight.
    if (events.length === this.config.maxBatch || event._tag === "Failure") this.wake.unsafeOffer(undefined)
  }

  /** How many outcomes wait for the next batch (tests, snapshots). */
  get buffered(): number {
    return this.outcomes.length
  }

  /** Send the buffered outcomes (one compare-and-set, retried on conflict); kept for later when the store fails. */
  flush(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.mode !== "shared" || this.outcomes.length === 0) return Effect.void
      const events = this.outcomes
      const times = this.outcomeTimes
      this.outcomes = []
      this.outcomeTimes = []
      return this.decide("compareAndSet", (fleet, now) => this.replay(fleet, events, times, now)).pipe(
        Effect.matchEffect({
          // every attempt conflicted (a busy fleet): the outcomes go with the next batch
          onSuccess: (sent) => sent === undefined ? Effect.sync(() => this.requeue(events, times)) : Effect.void,
          onFailure: (error) =>
            Effect.zipRight(
              Effect.sync(() => this.requeue(events, times)),
              this.storeFailed(error)
            )
        })
      )
    })
  }

  private requeue(events: Array<Outcome>, times: Array<number>): void {
    // the older outcomes go first; beyond the bound the oldest are dropped
    const allEvents = events.concat(this.outcomes)
    const allTimes = times.concat(this.outcomeTimes)
    const excess = allEvents.length - this.config.maxBuffer
    if (excess > 0) {
      allEvents.splice(0, excess)
      allTimes.splice(0, excess)
      this.dropped += excess
    }
    this.outcomes = allEvents
    this.outcomeTimes = allTimes
  }

  // Replay a batch on the fleet's state. The quorum vetoes a Closed -> Open trip while fewer than `quorum` instances
  // have failures in the quorum window: the state stays Closed with the calls recorded (the rule fires again at the
  // next failure, when the quorum may hold).
  private replay(
    fleet: Fleet,
    events: ReadonlyArray<Outcome>,
    times: ReadonlyArray<number>,
    now: number
  ): Decision<true> {
    const { instanceId, quorum, quorumWindowMillis } = this.config
    let state = fleet.state
    let failing: ReadonlyArray<readonly [string, number, number]> = fleet.failing.filter((entry) =>
      entry[2] > now - quorumWindowMillis
    )
    let pruned = failing.length !== fleet.failing.length
    let change = fleet.change
    // an untimed event that left a state unchanged leaves it unchanged again (a pure function of both): a healthy
    // batch's run of the very same success object costs one transition, not one per call
    let unchanged: Outcome | undefined
    for (let i = 0; i < events.length; i++) {
      const event = events[i]
      if (event.epoch !== state.epoch || state._tag !== "Closed") continue
      const untimed = Number.isNaN(times[i])
      if (untimed && event === unchanged) continue
      const at = untimed ? now : times[i] + this.offset
      if (event._tag === "Failure") {
        failing = withFailure(failing, instanceId, at)
        pruned = true
      }
      const t = Machine.transition(state, event, at, this.machine)
      if (t.announcements.length > 0 && t.state._tag === "Open" && failing.length < quorum) {
        state = {
          _tag: "Closed",
          epoch: state.epoch,
          consecutiveFailures: t.state.consecutiveFailures,
          trips: 0,
          rules: t.state.rules
        }
        unchanged = undefined
        continue
      }
      if (t.announcements.length > 0) change = t.announcements[0]
      unchanged = untimed && t.state === state ? event : undefined
      state = t.state
    }
    if (state === fleet.state && !pruned) return { next: undefined, result: true }
    return { next: { ...fleet, state, failing, change }, result: true }
  }

  // -- the call path ---------------------------------------------------------------------

  private run<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.suspend(() => {
      if (this.mode === "shared") {
        const fleet = this.fleet.state
        switch (fleet._tag) {
          case "Closed":
            break
          case "Disabled":
            return this.local.execute(self)
          default:
            return this.guarded(self)
        }
      }
      // the fleet is Closed (or unknown): the local breaker decides, the outcome joins the next batch
      const handlers = this.local.unsafeClosedHandlers()
      if (handlers !== undefined) return Effect.matchCauseEffect(self, this.fusedHandlers(handlers))
      return this.local.execute(this.reported(self, this.fleet.state.epoch))
    })
  }

  private fusedHandlers(handlers: breaker.Handlers): breaker.Handlers {
    const epoch = this.fleet.state.epoch
    if (this.fusedFor === handlers && this.fusedEpoch === epoch) return this.fused!
    const success: Outcome = { _tag: "Success", epoch, durationMillis: 0 }
    const failure: Outcome = { _tag: "Failure", epoch, durationMillis: 0 }
    this.fusedFor = handlers
    this.fusedEpoch = epoch
    return this.fused = {
      onSuccess: (a) => {
        this.report(success, NaN)
        return handlers.onSuccess(a)
      },
      onFailure: (cause) => {
        if (this.local.outcomeOf(cause) === FAILURE) this.report(failure, NaN)
        return handlers.onFailure(cause)
      }
    }
  }

  // a Closed-fleet call the local breaker runs on its general path: timed with the fiber's Clock (matchCauseEffect
  // rather than onExit: no interruption mask on a path every call of a timed breaker takes)
  private reported<A, E, R>(self: Effect.Effect<A, E, R>, epoch: number): Effect.Effect<A, E, R> {
    return Effect.clockWith((clock) => {
      const start = clock.unsafeCurrentTimeMillis()
      return Effect.matchCauseEffect(self, {
        onSuccess: (a) => {
          const end = clock.unsafeCurrentTimeMillis()
          this.report({ _tag: "Success", epoch, durationMillis: end - start }, end)
          return Effect.succeed(a)
        },
        onFailure: (cause) => {
          if (this.local.outcomeOf(cause) === FAILURE) {
            const end = clock.unsafeCurrentTimeMillis()
            this.report({ _tag: "Failure", epoch, durationMillis: end - start }, end)
          }
          return Effect.failCause(cause)
        }
      })
    })
  }

  private reject(state: "Open" | "HalfOpen" | "Isolated", retryAfterMillis: number) {
    breaker.rejectionsTotal.unsafeUpdate(1, [...this.fleetLabels, MetricLabel.make("state", state)])
    const error = new CircuitOpenError({
      breaker: this.name,
      state,
      retryAfter: retryAfterMillis === Number.POSITIVE_INFINITY
        ? Duration.infinity
        : Duration.millis(Math.max(0, retryAfterMillis))
    })
    return Effect.zipRight(
      T.event(T.Event.breakerRejected, {
        [T.Attr.breakerName]: this.name,
        [T.Attr.breakerState]: state,
        [T.Attr.retryAfterMs]: retryAfterMillis,
        [T.Attr.breakerScope]: "fleet"
      }),
      Effect.fail(error)
    )
  }

  // The fleet is Open, HalfOpen or Isolated: reject, or ask the fleet for a probe slot.
  private guarded<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.clockWith((clock): Effect.Effect<A, E | CircuitOpenError, R> => {
      const fleet = this.fleet.state
      const now = this.storeNow(clock)
      if (fleet._tag === "Isolated") return this.reject("Isolated", Number.POSITIVE_INFINITY)
      if (fleet._tag === "Open" && now < fleet.until) return this.reject("Open", fleet.until - now)
      if (fleet._tag === "Closed" || fleet._tag === "Disabled") return this.run(self)
      // the local breaker must admit too: when it would reject, it says so itself (and no fleet slot is taken)
      const local = this.local.unsafeState
      const localNow = clock.unsafeCurrentTimeMillis()
      if (local._tag === "Isolated" || (local._tag === "Open" && localNow < local.until)) {
        return this.local.execute(self)
      }
      if (this.probing) return this.reject("HalfOpen", 0)
      return this.probe(self)
    })
  }

  private probe<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> {
    this.probing = true
    const slot = this.decide("compareAndSet", (fleet, now): Decision<Machine.Admission> => {
      let state = fleet.state
      // Every slot taken for longer than the probe lease: the probes' instances died or hang. Take one slot back (an
      // `Ignored` outcome, as an interrupted probe's) so that the fleet is not stuck HalfOpen until the entry expires.
      if (
        state._tag === "HalfOpen" && state.probes >= this.machine.halfOpenMaxProbes &&
        now - (fleet.probedAt ?? state.openedAt) >= this.config.probeLeaseMillis
      ) {
        state = Machine.transition(state, { _tag: "Ignored", epoch: state.epoch }, now, this.machine).state
      }
      const t = Machine.transition(state, admitEvent, now, this.machine)
      const admission = t.admission!
      if (t.state === fleet.state) return { next: undefined, result: admission }
      return {
        next: {
          ...fleet,
          state: t.state,
          change: t.announcements[0] ?? fleet.change,
          probedAt: admission._tag === "Admitted" && admission.probe ? now : fleet.probedAt
        },
        result: admission
      }
    })
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.either(Effect.ensuring(slot, Effect.sync(() => (this.probing = false)))),
        (got): Effect.Effect<A, E | CircuitOpenError, R> => {
          if (got._tag === "Left") {
            // the store is away: the local breaker decides alone
            return Effect.zipRight(this.storeFailed(got.left), restore(this.run(self)))
          }
          const admission = got.right
          if (admission === undefined) return this.reject("HalfOpen", 0)
          if (admission._tag === "Rejected") return this.reject(admission.state, admission.retryAfterMillis)
          if (!admission.probe) return restore(this.run(self))
          return this.runProbe(restore(self), admission.epoch)
        }
      )
    )
  }

  // Run a probe through the local breaker and write its outcome to the fleet at once (not batched).
  private runProbe<A, E, R>(self: Effect.Effect<A, E, R>, epoch: number): Effect.Effect<A, E | CircuitOpenError, R> {
    return Effect.clockWith((clock) => {
      const start = clock.unsafeCurrentTimeMillis()
      // set by the call itself: when the local breaker rejects, the call never ran and the slot is only freed
      let outcome: Outcome = { _tag: "Ignored", epoch }
      const tracked = Effect.onExit(self, (exit) =>
        Effect.sync(() => {
          const durationMillis = clock.unsafeCurrentTimeMillis() - start
          const o = exit._tag === "Success" ? SUCCESS : this.local.outcomeOf(exit.cause)
          outcome = o === SUCCESS
            ? { _tag: "Success", epoch, durationMillis }
            : o === FAILURE
            ? { _tag: "Failure", epoch, durationMillis }
            : { _tag: "Ignored", epoch }
        }))
      return Effect.onExit(this.local.execute(tracked), () => this.writeOutcome(() => outcome))
    })
  }

  private writeOutcome(outcome: () => Outcome): Effect.Effect<void> {
    return this.decide("compareAndSet", (fleet, now): Decision<void> => {
      const event = outcome()
      const t = Machine.transition(fleet.state, event, now, this.machine)
      if (t.state === fleet.state) return { next: undefined, result: undefined }
      const closing = t.state._tag === "Closed"
      return {
        next: {
          ...fleet,
          state: t.state,
          failing: closing ? [] : fleet.failing,
          change: t.announcements[0] ?? fleet.change
        },
        result: undefined
      }
    }).pipe(Effect.catchAll((error) => this.storeFailed(error)), Effect.asVoid)
  }

  // -- manual commands (fleet-wide) ---------------------------------------------------------

  private command(event: Machine.Event, local: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.zipRight(
      local,
      Effect.suspend(() =>
        this.mode === "shared"
          ? this.decide("compareAndSet", (fleet, now): Decision<void> => {
            const t = Machine.transition(fleet.state, event, now, this.machine)
            if (t.state === fleet.state) return { next: undefined, result: undefined }
            const failing = t.state._tag === "Closed" ? [] : fleet.failing
            return {
              next: { ...fleet, state: t.state, failing, change: t.announcements[0] ?? fleet.change },
              result: undefined
            }
          }).pipe(Effect.catchAll((error) => this.storeFailed(error)), Effect.asVoid)
          : Effect.void
      )
    )
  }

  get isolate(): Effect.Effect<void> {
    return this.command({ _tag: "Isolate" }, this.local.isolate)
  }

  get reset(): Effect.Effect<void> {
    return this.command({ _tag: "Reset" }, this.local.reset)
  }

  get disable(): Effect.Effect<void> {
    return this.command({ _tag: "Disable" }, this.local.disable)
  }

  // -- observation ---------------------------------------------------------------------------

  // What a call sees: the local breaker's state, unless the fleet's is stricter.
  private effective(local: api.State, clock: Clock.Clock): api.State {
    if (this.mode !== "shared") return local
    const fleet = this.fleet.state
    switch (fleet._tag) {
      case "Closed":
      case "Disabled":
        return local
      case "Isolated":
        return "Isolated"
      case "Open":
      case "HalfOpen":
        if (fleet._tag === "Open" && this.storeNow(clock) < fleet.until) return "Open"
        // past its reset time, the fleet admits a probe
        return local === "Open" || local === "Isolated" ? local : "HalfOpen"
    }
  }

  get state(): Effect.Effect<api.State> {
    return Effect.flatMap(
      this.local.state,
      (local) => Effect.clockWith((clock) => Effect.succeed(this.effective(local, clock)))
    )
  }

  get snapshot(): Effect.Effect<api.Snapshot> {
    return Effect.flatMap(this.local.snapshot, (snapshot) =>
      Effect.clockWith((clock) => {
        const fleet = this.fleet
        const fleetState = fleet.state._tag === "Open" && this.storeNow(clock) >= fleet.state.until
          ? "HalfOpen"
          : fleet.state._tag
        return Effect.succeed({
          ...snapshot,
          state: this.effective(snapshot.state, clock),
          fleet: {
            mode: this.mode,
            state: fleetState,
            instanceId: this.config.instanceId,
            failingInstances: fleet.failing.map(([instance, failures, lastFailureAt]) => ({
              instance,
              failures,
              lastFailureAt
            })),
            version: fleet.version
          }
        })
      }))
  }

  // Wait until the effective state is `state`: re-checked at every change (local or fleet) and at the fleet's reset
  // time.
  awaitState(state: api.State): Effect.Effect<void> {
    return Effect.scoped(Effect.gen(this, function*() {
      const changes = yield* this.subscribe
      while (true) {
        const current = yield* this.state
        if (current === state) return
        yield* Queue.takeAll(changes)
        const fleet = this.fleet.state
        const clock = yield* Effect.clock
        const wait = fleet._tag === "Open" ? fleet.until - this.storeNow(clock) : Number.POSITIVE_INFINITY
        const local = this.local.unsafeState
        const localWait = local._tag === "Open"
          ? local.until - clock.unsafeCurrentTimeMillis()
          : Number.POSITIVE_INFINITY
        // a reset time already past changes nothing more by itself: wait for the next change
        const until = Math.min(
          wait > 0 ? wait : Number.POSITIVE_INFINITY,
          localWait > 0 ? localWait : Number.POSITIVE_INFINITY
        )
        yield* until === Number.POSITIVE_INFINITY
          ? Queue.take(changes)
          : Effect.raceFirst(Effect.sleep(Math.max(0, until)), Queue.take(changes))
      }
    }))
  }

  get awaitClosed(): Effect.Effect<void> {
    return this.awaitState("Closed")
  }

  get liveHalfOpen(): Effect.Effect<never> {
    return this.local.liveHalfOpen
  }

  get failureCount(): number {
    return this.local.failureCount
  }

  /** Outcomes dropped from a full buffer while the store was away (tests, the report). */
  get droppedOutcomes(): number {
    return this.dropped
  }

  // -- background fibers ----------------------------------------------------------------------

  /**
   * Send a batch whenever woken: by the call that fills `maxBatch`, or by the
   * ticker. Runs until interrupted. (Waiting on the queue alone, not raced with
   * a timer: a race per batch cost ~200 ns per call at 100 calls a batch.)
   */
  get flusher(): Effect.Effect<never> {
    return Effect.forever(Effect.zipRight(Queue.take(this.wake), this.flush()))
  }

  /** Wake the flusher every `interval` when outcomes wait. Runs until interrupted. */
  get ticker(): Effect.Effect<never> {
    return Effect.forever(
      Effect.zipRight(
        Effect.sleep(this.config.intervalMillis),
        Effect.sync(() => {
          if (this.outcomes.length > 0) this.wake.unsafeOffer(undefined)
        })
      )
    )
  }

  /**
   * Subscribe to the fleet's entry, read it, then apply every push; when the
   * push channel fails, fall back to the local breaker and try again with
   * backoff (100 ms doubling up to 5 s). `ready` completes after the first
   * attempt, whatever its outcome.
   */
  watcher(ready: Deferred.Deferred<void>): Effect.Effect<never> {
    let attempt = 0
    const once = Effect.scoped(Effect.gen(this, function*() {
      const stream = yield* this.timed("changes", this.store.changes(this.name))
      const read = yield* this.timed("read", this.store.read(this.name))
      const clock = yield* Effect.clock
      this.offset = read.now - clock.unsafeCurrentTimeMillis()
      const fleet = this.entryFleet(read.entry)
      // re-read after a gap: whatever is stored now is the truth, even an older or re-created version
      if (fleet.version !== this.fleet.version) this.replaceFleet(fleet, read.now)
      attempt = 0
      yield* this.storeRecovered()
      yield* Deferred.succeed(ready, undefined)
      yield* Stream.runForEach(
        stream,
        (entry) => Effect.sync(() => this.applyFleet(this.entryFleet(Option.some(entry)), this.storeNow(clock), true))
      )
      return yield* new Store.CircuitBreakerStoreError({ operation: "changes", message: "the push stream ended" })
    }))
    return Effect.forever(
      Effect.catchAll(once, (error) =>
        Effect.gen(this, function*() {
          yield* this.storeFailed(error)
          yield* Deferred.succeed(ready, undefined)
          const delay = Math.min(5_000, 100 * Math.pow(2, attempt))
          attempt++
          yield* Effect.sleep(delay)
        }))
    )
  }
}

/** @internal */
export const make = (
  options: shared.Options,
  sink?: (change: api.StateChange) => void
): Effect.Effect<SharedBreaker, InvalidOptionsError, Store.CircuitBreakerStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Store.CircuitBreakerStore
    const localConfig = yield* breaker.resolve(options)
    const fleetConfig = yield* resolveFleet(options, localConfig.machine)
    let forward: (change: api.StateChange) => void = () => {}
    const local = new breaker.Breaker(localConfig, (change) => forward(change))
    const made = new SharedBreaker(local, fleetConfig, store, sink)
    forward = made.forward
    const ready = yield* Deferred.make<void>()
    yield* Effect.forkScoped(made.watcher(ready))
    yield* Effect.forkScoped(made.flusher)
    yield* Effect.forkScoped(made.ticker)
    yield* Effect.forkScoped(made.announcer)
    yield* Deferred.await(ready)
    // what is still buffered when the scope closes is sent once, within the store's time budget
    yield* Effect.addFinalizer(() => Effect.interruptible(made.flush()))
    return made
  })

const withFailure = (
  failing: ReadonlyArray<readonly [string, number, number]>,
  instance: string,
  at: number
): ReadonlyArray<readonly [string, number, number]> => {
  const out: Array<readonly [string, number, number]> = []
  let found = false
  for (const entry of failing) {
    if (entry[0] === instance) {
      out.push([instance, entry[1] + 1, Math.max(entry[2], at)])
      found = true
    } else {
      out.push(entry)
    }
  }
  if (!found) out.push([instance, 1, at])
  if (out.length > MAX_FAILING) {
    // the oldest report goes
    let oldest = 0
    for (let i = 1; i < out.length; i++) if (out[i][2] < out[oldest][2]) oldest = i
    out.splice(oldest, 1)
  }
  return out
}
