/**
 * The circuit breaker's state machine: one pure function from a state, an
 * event and the time to the next state and what to announce. No Effect, no
 * I/O, no mutation: the in-process breaker and the fleet-wide one run it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as api from "../CircuitBreakerMachine.js"
import * as window from "./circuitBreakerWindow.js"

// -- trip rules -------------------------------------------------------------

/** @internal */
export const consecutiveFailures = (threshold: number): api.TripRule<number> => ({
  name: "consecutiveFailures",
  invalid: threshold === Number.POSITIVE_INFINITY || (Number.isInteger(threshold) && threshold >= 1)
    ? undefined
    : `threshold must be an integer >= 1 or Infinity, got ${threshold}`,
  initial: 0,
  usesClock: false,
  slowCallMillis: undefined,
  // returns the same number on a success after a success: nothing to allocate or compare
  record: (failures, call) => call._tag === "Failure" ? failures + 1 : 0,
  check: (failures) => failures >= threshold ? "consecutive-failures" : undefined
})

const isRatio = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0 && v <= 1
const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 1

const MAX_COUNT_WINDOW = 1_000_000
const MAX_TIME_WINDOW = 86_400

// Why a rate rule's options are invalid, if they are.
const invalidRates = (options: api.RatesOptions): string | undefined => {
  if (typeof options !== "object" || options === null) return "options must be an object"
  const spec = options.window ?? { calls: 100 }
  if (typeof spec !== "object" || spec === null) return "window must be { calls } or { seconds }"
  const isCount = "calls" in spec
  const size = isCount ? spec.calls : spec.seconds
  if (!isPositiveInt(size)) return `window size must be an integer >= 1, got ${size}`
  if (size > (isCount ? MAX_COUNT_WINDOW : MAX_TIME_WINDOW)) {
    return isCount ? `window must be at most ${MAX_COUNT_WINDOW} calls` : `window must be at most ${MAX_TIME_WINDOW} s`
  }
  const minimumCalls = options.minimumCalls
  if (minimumCalls !== undefined && !isPositiveInt(minimumCalls)) {
    return `minimumCalls must be an integer >= 1, got ${minimumCalls}`
  }
  if (isCount && minimumCalls !== undefined && minimumCalls > size) {
    return "minimumCalls must be <= the window's size for a count window"
  }
  if (options.failureRate !== undefined && !isRatio(options.failureRate)) {
    return `failureRate must be a number in (0, 1], got ${options.failureRate}`
  }
  if (options.slowCallRate !== undefined && !isRatio(options.slowCallRate)) {
    return `slowCallRate must be a number in (0, 1], got ${options.slowCallRate}`
  }
  if (options.slowerThan !== undefined) {
    const slowerThan = Duration.decodeUnknown(options.slowerThan)
    if (Option.isNone(slowerThan) || !Duration.isFinite(slowerThan.value) || Duration.toMillis(slowerThan.value) <= 0) {
      return "slowerThan must be a finite Duration > 0"
    }
  }
  return undefined
}

/** @internal */
export const rates = (input: api.RatesOptions): api.TripRule<window.Window> => {
  const invalid = invalidRates(input)
  // an invalid rule is never run (`config` refuses it): it only needs to be built without a throw
  const options: api.RatesOptions = invalid === undefined ? input : { window: { calls: 1 } }
  const spec = options.window ?? { calls: 100 }
  const isCount = "calls" in spec
  const size = isCount ? spec.calls : spec.seconds
  const minimumCalls = options.minimumCalls ?? (isCount ? Math.min(10, size) : 10)
  const { failureRate, slowCallRate } = options
  const slowCallMillis = slowCallRate === undefined
    ? undefined
    : Duration.toMillis(Duration.decode(options.slowerThan ?? "60 seconds"))
  return {
    name: "rates",
    invalid,
    initial: isCount ? window.countWindow(size) : window.timeWindow(size),
    usesClock: !isCount,
    slowCallMillis,
    record: (w, call, now) =>
      window.record(
        w,
        now,
        call._tag === "Failure",
        slowCallMillis !== undefined && call.durationMillis > slowCallMillis
      ),
    // with no threshold the rule only keeps the window for snapshots
    check: failureRate === undefined && slowCallRate === undefined ? () => undefined : (w, now) => {
      const v = window.view(w, now)
      if (v.calls < minimumCalls) return undefined
      if (failureRate !== undefined && v.failures >= failureRate * v.calls) return "failure-rate"
      if (slowCallRate !== undefined && v.slow >= slowCallRate * v.calls) return "slow-call-rate"
      return undefined
    },
    view: window.view
  }
}

// -- states -----------------------------------------------------------------

/** Each rule's initial state, in rule order. @internal */
export const initialRules = (config: api.Config): ReadonlyArray<unknown> => config.rules.map((rule) => rule.initial)

/** @internal */
export const initial = (config: api.Config): api.State => ({
  _tag: "Closed",
  epoch: 0,
  consecutiveFailures: 0,
  trips: 0,
  rules: initialRules(config)
})

/** @internal */
export const gaugeValue = (state: api.StateName): number => {
  switch (state) {
    case "Closed":
      return 0
    case "HalfOpen":
      return 1
    case "Open":
      return 2
    case "Isolated":
      return 3
    case "Disabled":
      return 4
  }
}

/** @internal */
export const windowView = (config: api.Config, state: api.State, now: number): api.WindowView => {
  const rules = config.rules
  for (let i = 0; i < rules.length; i++) {
    const view = rules[i].view
    if (view === undefined) continue
    const { calls, failures, slow } = view(state.rules[i], now)
    return { calls, failures, slow }
  }
  return { calls: 0, failures: 0, slow: 0 }
}

// -- the transition function --------------------------------------------------

const none: ReadonlyArray<api.Announcement> = []

const stay = (state: api.State): api.Transition => ({ state, announcements: none })

const announce = (
  from: api.State,
  state: api.State,
  reason: api.Reason,
  at: number,
  admission?: api.Admission
): api.Transition => {
  const announcements = [{ from: from._tag, to: state._tag, reason, at }]
  return admission === undefined ? { state, announcements } : { state, announcements, admission }
}

const open = (config: api.Config, from: api.State, now: number, reason: api.Reason, failures: number) => {
  const trips = from.trips + 1
  const millis = Math.min(config.resetMillis * Math.pow(config.backoffFactor, trips - 1), config.maxResetMillis)
  const state: api.Open = {
    _tag: "Open",
    epoch: from.epoch + 1,
    consecutiveFailures: failures,
    trips,
    rules: from.rules,
    openedAt: now,
    until: now + millis
  }
  return announce(from, state, reason, now)
}

const closed = (config: api.Config, epoch: number): api.Closed => ({
  _tag: "Closed",
  epoch,
  consecutiveFailures: 0,
  trips: 0,
  rules: initialRules(config)
})

// A call admitted while Closed ended with a verdict: record it in every rule, trip on the first that fires.
const recordClosed = (config: api.Config, state: api.Closed, call: api.Call, now: number): api.Transition => {
  const rules = config.rules
  let next: Array<unknown> | undefined
  let reason: api.Reason | undefined
  // one pass: a rule's verdict depends only on its own state, and every rule records the call even after one fired
  // (the windows of an Open breaker show the call that tripped it)
  for (let i = 0; i < rules.length; i++) {
    const before = state.rules[i]
    const after = rules[i].record(before, call, now)
    if (after !== before) (next ??= state.rules.slice())[i] = after
    if (reason === undefined) reason = rules[i].check(after, now)
  }
  const failures = call._tag === "Failure" ? state.consecutiveFailures + 1 : 0
  // the steady success path: nothing changed, the same state comes back and nothing is allocated for it
  const recorded: api.Closed = next === undefined && failures === state.consecutiveFailures
    ? state
    : { _tag: "Closed", epoch: state.epoch, consecutiveFailures: failures, trips: 0, rules: next ?? state.rules }
  return reason === undefined ? stay(recorded) : open(config, recorded, now, reason, failures)
}

const halfOpen = (from: api.Open, epoch: number): api.HalfOpen => ({
  _tag: "HalfOpen",
  epoch,
  consecutiveFailures: from.consecutiveFailures,
  trips: from.trips,
  rules: from.rules,
  openedAt: from.openedAt,
  probes: 0,
  successes: 0
})

const withProbes = (state: api.HalfOpen, probes: number, successes: number, failures: number): api.HalfOpen => ({
  ...state,
  probes,
  successes,
  consecutiveFailures: failures
})

const admit = (config: api.Config, state: api.State, now: number): api.Transition => {
  switch (state._tag) {
    case "Closed":
    case "Disabled":
      return { state, announcements: none, admission: { _tag: "Admitted", epoch: state.epoch, probe: false } }
    case "Isolated":
      return {
        state,
        announcements: none,
        admission: { _tag: "Rejected", state: "Isolated", retryAfterMillis: Number.POSITIVE_INFINITY }
      }
    case "Open": {
      if (now < state.until) {
        return {
          state,
          announcements: none,
          admission: { _tag: "Rejected", state: "Open", retryAfterMillis: state.until - now }
        }
      }
      // the reset timeout has passed: this call is the first probe
      const probing = withProbes(halfOpen(state, state.epoch + 1), 1, 0, state.consecutiveFailures)
      return announce(state, probing, "reset-timeout-elapsed", now, {
        _tag: "Admitted",
        epoch: probing.epoch,
        probe: true
      })
    }
    case "HalfOpen":
      return state.probes >= config.halfOpenMaxProbes
        ? { state, announcements: none, admission: { _tag: "Rejected", state: "HalfOpen", retryAfterMillis: 0 } }
        : {
          state: withProbes(state, state.probes + 1, state.successes, state.consecutiveFailures),
          announcements: none,
          admission: { _tag: "Admitted", epoch: state.epoch, probe: true }
        }
  }
}

const isSlow = (config: api.Config, call: api.Call) =>
  config.slowCallMillis !== undefined && call.durationMillis > config.slowCallMillis

// A probe ended.
const recordProbe = (
  config: api.Config,
  state: api.HalfOpen,
  event: api.Event & { readonly _tag: "Success" | "Failure" | "Ignored" },
  now: number
): api.Transition => {
  const probes = state.probes - 1
  switch (event._tag) {
    case "Ignored":
      return stay(withProbes(state, probes, state.successes, state.consecutiveFailures))
    case "Failure":
      return open(config, state, now, "probe-failed", state.consecutiveFailures + 1)
    case "Success": {
      if (isSlow(config, event)) return open(config, state, now, "probe-slow", state.consecutiveFailures)
      const successes = state.successes + 1
      return successes >= config.successThreshold
        ? announce(state, closed(config, state.epoch + 1), "probe-succeeded", now)
        : stay(withProbes(state, probes, successes, 0))
    }
  }
}

// What a forced state (Isolated, Disabled) keeps of the one it replaces, in the next epoch.
const carriedOver = (state: api.State) => ({
  epoch: state.epoch + 1,
  consecutiveFailures: state.consecutiveFailures,
  trips: state.trips,
  rules: state.rules
})

/** @internal */
export const transition = (state: api.State, event: api.Event, now: number, config: api.Config): api.Transition => {
  switch (event._tag) {
    case "Success":
    case "Failure":
    case "Ignored": {
      // a call admitted before a transition does not move the new state
      if (event.epoch !== state.epoch) return stay(state)
      if (state._tag === "Closed") {
        return event._tag === "Ignored" ? stay(state) : recordClosed(config, state, event, now)
      }
      return state._tag === "HalfOpen" ? recordProbe(config, state, event, now) : stay(state)
    }
    case "Admit":
      return admit(config, state, now)
    case "Tick":
      return state._tag === "Open" && now >= state.until
        ? announce(state, halfOpen(state, state.epoch + 1), "reset-timeout-elapsed", now)
        : stay(state)
    case "Isolate":
      return state._tag === "Isolated"
        ? stay(state)
        : announce(state, { _tag: "Isolated", ...carriedOver(state), openedAt: now }, "isolated", now)
    case "Disable":
      return state._tag === "Disabled"
        ? stay(state)
        : announce(state, { _tag: "Disabled", ...carriedOver(state) }, "disabled", now)
    case "Reset":
      // resetting a Closed breaker clears its counters without a transition (calls under way still count)
      return state._tag === "Closed"
        ? stay(closed(config, state.epoch))
        : announce(state, closed(config, state.epoch + 1), "reset", now)
  }
}

// -- JSON codec -----------------------------------------------------------------

const encodeRule = (rule: unknown): unknown => window.isWindow(rule) ? window.toJson(rule) : rule

/** @internal */
export const encodeState = (state: api.State): api.EncodedState => {
  const common = {
    _tag: state._tag,
    epoch: state.epoch,
    consecutiveFailures: state.consecutiveFailures,
    trips: state.trips,
    rules: state.rules.map(encodeRule)
  }
  switch (state._tag) {
    case "Closed":
    case "Disabled":
      return common
    case "Open":
      return { ...common, openedAt: state.openedAt, until: state.until }
    case "HalfOpen":
      return { ...common, openedAt: state.openedAt, probes: state.probes, successes: state.successes }
    case "Isolated":
      return { ...common, openedAt: state.openedAt }
  }
}

const isNat = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0
const isTime = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)

// A rule's state from JSON, checked against the rule's initial state: a number for a number, the same kind and size
// of window for a window; anything else (a custom rule's state) is taken as it is.
const decodeRule = (json: unknown, initialState: unknown): { readonly ok: boolean; readonly value?: unknown } => {
  if (typeof initialState === "number") return isTime(json) ? { ok: true, value: json } : { ok: false }
  if (window.isWindow(initialState)) {
    const w = window.fromJson(json, initialState)
    return w === undefined ? { ok: false } : { ok: true, value: w }
  }
  return json === undefined ? { ok: false } : { ok: true, value: json }
}

/** @internal */
export const decodeState = (config: api.Config, json: unknown): api.State | string => {
  if (typeof json !== "object" || json === null) return "not an object"
  const o = json as Record<string, unknown>
  if (!isNat(o.epoch) || !isNat(o.consecutiveFailures) || !isNat(o.trips)) {
    return "epoch, consecutiveFailures and trips must be integers >= 0"
  }
  if (!Array.isArray(o.rules) || o.rules.length !== config.rules.length) {
    return `rules must be an array of ${config.rules.length} rule states`
  }
  const rules: Array<unknown> = []
  for (let i = 0; i < config.rules.length; i++) {
    const rule = decodeRule(o.rules[i], config.rules[i].initial)
    if (!rule.ok) return `rules[${i}] is not a state of rule ${config.rules[i].name} as configured`
    rules.push(rule.value)
  }
  const common = { epoch: o.epoch, consecutiveFailures: o.consecutiveFailures, trips: o.trips, rules }
  switch (o._tag) {
    case "Closed":
    case "Disabled":
      return { _tag: o._tag, ...common }
    case "Open":
      return isTime(o.openedAt) && isTime(o.until)
        ? { _tag: "Open", ...common, openedAt: o.openedAt, until: o.until }
        : "Open needs openedAt and until"
    case "HalfOpen":
      // any integer: the machine itself never checks that an outcome held a probe slot
      return isTime(o.openedAt) && Number.isSafeInteger(o.probes) && Number.isSafeInteger(o.successes)
        ? {
          _tag: "HalfOpen",
          ...common,
          openedAt: o.openedAt,
          probes: o.probes as number,
          successes: o.successes as number
        }
        : "HalfOpen needs openedAt, probes and successes"
    case "Isolated":
      return isTime(o.openedAt) ? { _tag: "Isolated", ...common, openedAt: o.openedAt } : "Isolated needs openedAt"
    default:
      return `unknown state ${String(o._tag)}`
  }
}
