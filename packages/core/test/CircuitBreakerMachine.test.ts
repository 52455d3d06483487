import { CircuitBreakerMachine as Machine } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"

// ---------------------------------------------------------------------------
// A reference model: the breaker as the module docs describe it, written the
// plainest way (every call kept in a list, windows recomputed from scratch).
// ---------------------------------------------------------------------------

type RuleSpec =
  | { readonly kind: "consecutive"; readonly threshold: number }
  | {
    readonly kind: "rates"
    readonly window: Machine.WindowSize
    readonly minimumCalls?: number | undefined
    readonly failureRate?: number | undefined
    readonly slowCallRate?: number | undefined
    readonly slowerThan?: number | undefined
  }

interface Spec {
  readonly rules: ReadonlyArray<RuleSpec>
  readonly resetMillis: number
  readonly backoffFactor: number
  readonly maxResetMillis: number
  readonly halfOpenMaxProbes: number
  readonly successThreshold: number
}

interface RecordedCall {
  readonly at: number
  readonly failed: boolean
  readonly durationMillis: number
}

const ruleOf = (spec: RuleSpec): Machine.TripRule =>
  spec.kind === "consecutive"
    ? Machine.consecutiveFailures(spec.threshold)
    : Machine.rates({
      window: spec.window,
      minimumCalls: spec.minimumCalls,
      failureRate: spec.failureRate,
      slowCallRate: spec.slowCallRate,
      slowerThan: spec.slowerThan
    })

const configOf = (spec: Spec): Machine.Config =>
  Machine.unsafeConfig({
    rules: spec.rules.map(ruleOf),
    resetTimeout: spec.resetMillis,
    resetBackoffFactor: spec.backoffFactor,
    maxResetTimeout: spec.maxResetMillis,
    halfOpenMaxProbes: spec.halfOpenMaxProbes,
    successThreshold: spec.successThreshold
  })

class Model {
  tag: Machine.StateName = "Closed"
  epoch = 0
  consecutiveFailures = 0
  trips = 0
  openedAt = 0
  until = 0
  probes = 0
  successes = 0
  // Closed calls since the rules were last cleared, oldest first
  calls: Array<RecordedCall> = []
  // consecutive failures as the consecutive rule counts them (Closed calls only)
  ruleFailures = 0
  announcements: Array<Machine.Announcement> = []
  admission: Machine.Admission | undefined = undefined

  constructor(readonly spec: Spec) {}

  get slowCallMillis(): number | undefined {
    const all = this.spec.rules.flatMap((r) =>
      r.kind === "rates" && r.slowCallRate !== undefined ? [r.slowerThan ?? 60_000] : []
    )
    return all.length === 0 ? undefined : Math.min(...all)
  }

  windowOf(rule: RuleSpec & { kind: "rates" }, now: number) {
    const slowerThan = rule.slowCallRate === undefined ? Infinity : rule.slowerThan ?? 60_000
    const inWindow = "calls" in rule.window
      ? this.calls.slice(-rule.window.calls)
      : this.calls.filter((c) =>
        Math.floor(c.at / 1000) > Math.floor(now / 1000) - (rule.window as { seconds: number }).seconds
      )
    return {
      calls: inWindow.length,
      failures: inWindow.filter((c) => c.failed).length,
      slow: inWindow.filter((c) => c.durationMillis > slowerThan).length
    }
  }

  view(now: number) {
    for (const rule of this.spec.rules) if (rule.kind === "rates") return this.windowOf(rule, now)
    return { calls: 0, failures: 0, slow: 0 }
  }

  go(tag: Machine.StateName, reason: Machine.Reason, now: number) {
    this.announcements.push({ from: this.tag, to: tag, reason, at: now })
    this.tag = tag
    this.epoch++
    this.probes = 0
    this.successes = 0
  }

  open(now: number, reason: Machine.Reason) {
    this.trips++
    const { backoffFactor, maxResetMillis, resetMillis } = this.spec
    this.openedAt = now
    this.until = now + Math.min(resetMillis * backoffFactor ** (this.trips - 1), maxResetMillis)
    this.go("Open", reason, now)
  }

  clear() {
    this.consecutiveFailures = 0
    this.ruleFailures = 0
    this.trips = 0
    this.calls = []
  }

  tripReason(now: number): Machine.Reason | undefined {
    for (const rule of this.spec.rules) {
      if (rule.kind === "consecutive") {
        if (this.ruleFailures >= rule.threshold) return "consecutive-failures"
        continue
      }
      const w = this.windowOf(rule, now)
      const minimumCalls = rule.minimumCalls ??
        ("calls" in rule.window ? Math.min(10, rule.window.calls) : 10)
      if (w.calls < minimumCalls) continue
      if (rule.failureRate !== undefined && w.failures >= rule.failureRate * w.calls) return "failure-rate"
      if (rule.slowCallRate !== undefined && w.slow >= rule.slowCallRate * w.calls) return "slow-call-rate"
    }
    return undefined
  }

  step(event: Machine.Event, now: number) {
    this.announcements = []
    this.admission = undefined
    switch (event._tag) {
      case "Admit":
        if (this.tag === "Closed" || this.tag === "Disabled") {
          this.admission = { _tag: "Admitted", epoch: this.epoch, probe: false }
        } else if (this.tag === "Isolated") {
          this.admission = { _tag: "Rejected", state: "Isolated", retryAfterMillis: Infinity }
        } else if (this.tag === "Open" && now < this.until) {
          this.admission = { _tag: "Rejected", state: "Open", retryAfterMillis: this.until - now }
        } else {
          if (this.tag === "Open") this.go("HalfOpen", "reset-timeout-elapsed", now)
          if (this.probes >= this.spec.halfOpenMaxProbes) {
            this.admission = { _tag: "Rejected", state: "HalfOpen", retryAfterMillis: 0 }
          } else {
            this.probes++
            this.admission = { _tag: "Admitted", epoch: this.epoch, probe: true }
          }
        }
        return
      case "Success":
      case "Failure":
      case "Ignored": {
        if (event.epoch !== this.epoch) return
        if (this.tag === "Closed" && event._tag !== "Ignored") {
          const failed = event._tag === "Failure"
          this.calls.push({ at: now, failed, durationMillis: event.durationMillis })
          this.ruleFailures = failed ? this.ruleFailures + 1 : 0
          this.consecutiveFailures = failed ? this.consecutiveFailures + 1 : 0
          const reason = this.tripReason(now)
          if (reason !== undefined) this.open(now, reason)
        } else if (this.tag === "HalfOpen") {
          this.probes--
          if (event._tag === "Failure") {
            this.consecutiveFailures++
            this.open(now, "probe-failed")
          } else if (event._tag === "Success") {
            const slow = this.slowCallMillis !== undefined && event.durationMillis > this.slowCallMillis
            if (slow) return this.open(now, "probe-slow")
            this.consecutiveFailures = 0
            if (++this.successes >= this.spec.successThreshold) {
              this.clear()
              this.go("Closed", "probe-succeeded", now)
            }
          }
        }
        return
      }
      case "Tick":
        if (this.tag === "Open" && now >= this.until) this.go("HalfOpen", "reset-timeout-elapsed", now)
        return
      case "Isolate":
        if (this.tag !== "Isolated") {
          this.openedAt = now
          this.go("Isolated", "isolated", now)
        }
        return
      case "Disable":
        if (this.tag !== "Disabled") this.go("Disabled", "disabled", now)
        return
      case "Reset":
        this.clear()
        if (this.tag !== "Closed") this.go("Closed", "reset", now)
        return
    }
  }
}

// ---------------------------------------------------------------------------
// generators
// ---------------------------------------------------------------------------

const windowArb: fc.Arbitrary<Machine.WindowSize> = fc.oneof(
  fc.integer({ min: 1, max: 8 }).map((calls) => ({ calls })),
  fc.integer({ min: 1, max: 4 }).map((seconds) => ({ seconds }))
)

const ratesArb: fc.Arbitrary<RuleSpec> = windowArb.chain((window) =>
  fc.record({
    kind: fc.constant("rates" as const),
    window: fc.constant(window),
    minimumCalls: fc.option(fc.integer({ min: 1, max: "calls" in window ? window.calls : 8 }), { nil: undefined }),
    failureRate: fc.option(fc.constantFrom(0.25, 0.5, 0.75, 1), { nil: undefined }),
    slowCallRate: fc.option(fc.constantFrom(0.3, 0.5, 1), { nil: undefined }),
    slowerThan: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined })
  }, { requiredKeys: ["kind", "window"] })
)

const ruleArb: fc.Arbitrary<RuleSpec> = fc.oneof(
  fc.record({
    kind: fc.constant("consecutive" as const),
    threshold: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(Infinity))
  }),
  ratesArb
)

const specArb: fc.Arbitrary<Spec> = fc.record({
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 3 }),
  resetMillis: fc.integer({ min: 1, max: 5_000 }),
  backoffFactor: fc.constantFrom(1, 1.5, 2),
  maxExtra: fc.integer({ min: 0, max: 20_000 }),
  halfOpenMaxProbes: fc.integer({ min: 1, max: 3 }),
  successThreshold: fc.integer({ min: 1, max: 3 })
}).map(({ maxExtra, ...spec }) => ({ ...spec, maxResetMillis: spec.resetMillis + maxExtra }))

// An event with how much time passes before it; outcome events pick an epoch among those admitted so far (often the
// current one, sometimes a stale one).
type Step =
  | { readonly wait: number; readonly kind: "Admit" | "Tick" | "Isolate" | "Disable" | "Reset" }
  | {
    readonly wait: number
    readonly kind: "Success" | "Failure" | "Ignored"
    readonly age: number
    readonly durationMillis: number
  }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      wait: fc.integer({ min: 0, max: 1500 }),
      kind: fc.constantFrom("Success" as const, "Failure" as const, "Ignored" as const),
      age: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
      durationMillis: fc.integer({ min: 0, max: 600 })
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({ wait: fc.integer({ min: 0, max: 3000 }), kind: fc.constant("Admit" as const) })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      wait: fc.integer({ min: 0, max: 6000 }),
      kind: fc.constantFrom("Tick" as const, "Isolate" as const, "Disable" as const, "Reset" as const)
    })
  }
)

const eventOf = (step: Step, epochs: ReadonlyArray<number>): Machine.Event => {
  switch (step.kind) {
    case "Success":
    case "Failure": {
      const epoch = epochs[Math.max(0, epochs.length - 1 - step.age)] ?? 0
      return { _tag: step.kind, epoch, durationMillis: step.durationMillis }
    }
    case "Ignored":
      return { _tag: "Ignored", epoch: epochs[Math.max(0, epochs.length - 1 - step.age)] ?? 0 }
    default:
      return { _tag: step.kind }
  }
}

// What the model and the machine must agree on.
const observable = (state: Machine.State) => ({
  tag: state._tag,
  epoch: state.epoch,
  consecutiveFailures: state.consecutiveFailures,
  trips: state.trips,
  openedAt: "openedAt" in state ? state.openedAt : undefined,
  until: state._tag === "Open" ? state.until : undefined,
  probes: state._tag === "HalfOpen" ? state.probes : undefined,
  successes: state._tag === "HalfOpen" ? state.successes : undefined
})

const modelObservable = (model: Model) => ({
  tag: model.tag,
  epoch: model.epoch,
  consecutiveFailures: model.consecutiveFailures,
  trips: model.trips,
  openedAt: model.tag === "Open" || model.tag === "HalfOpen" || model.tag === "Isolated" ? model.openedAt : undefined,
  until: model.tag === "Open" ? model.until : undefined,
  probes: model.tag === "HalfOpen" ? model.probes : undefined,
  successes: model.tag === "HalfOpen" ? model.successes : undefined
})

describe("CircuitBreakerMachine", () => {
  it.prop(
    "the transition function agrees with the reference model over random event sequences, for every trip rule",
    [specArb, fc.array(stepArb, { maxLength: 80 })],
    ([spec, steps]) => {
      const config = configOf(spec)
      const model = new Model(spec)
      let state = Machine.initial(config)
      let now = 1_000_000
      // epochs in which calls were admitted (the first Closed epoch admits without an Admit event too)
      const epochs: Array<number> = [0]
      for (const step of steps) {
        now += step.wait
        const event = eventOf(step, epochs)
        const before = state
        const result = Machine.transition(state, event, now, config)
        model.step(event, now)
        state = result.state
        expect(observable(state)).toEqual(modelObservable(model))
        expect(result.announcements).toEqual(model.announcements)
        expect(result.admission).toEqual(model.admission)
        expect(Machine.windowView(config, state, now)).toEqual(model.view(now))
        // nothing announced: a pure function that changed nothing hands back the very same state
        if (result.announcements.length === 0 && event._tag === "Tick") expect(state).toBe(before)
        if (result.admission?._tag === "Admitted") epochs.push(result.admission.epoch)
        if (state._tag === "Closed" && epochs.at(-1) !== state.epoch) epochs.push(state.epoch)
      }
    },
    { fastCheck: { numRuns: 400 } }
  )

  it.prop(
    "the transition function is pure: the same state, event and time give the same result, and the input is untouched",
    [specArb, fc.array(stepArb, { maxLength: 40 })],
    ([spec, steps]) => {
      const config = configOf(spec)
      let state = Machine.initial(config)
      let now = 0
      const epochs = [0]
      for (const step of steps) {
        now += step.wait
        const event = eventOf(step, epochs)
        const frozen = JSON.stringify(state)
        const first = Machine.transition(state, event, now, config)
        const second = Machine.transition(state, event, now, config)
        expect(JSON.stringify(state)).toBe(frozen)
        expect(JSON.stringify(second)).toBe(JSON.stringify(first))
        state = first.state
        if (first.admission?._tag === "Admitted") epochs.push(first.admission.epoch)
        if (state._tag === "Closed") epochs.push(state.epoch)
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("a healthy Closed breaker's success returns the very same state (nothing allocated for it)", () => {
    const config = Machine.unsafeConfig({
      rules: [Machine.consecutiveFailures(5), Machine.rates({ window: { calls: 3 } })]
    })
    let state = Machine.initial(config)
    const success: Machine.Event = { _tag: "Success", epoch: 0, durationMillis: 0 }
    for (let i = 0; i < 3; i++) state = Machine.transition(state, success, 0, config).state
    expect(Machine.transition(state, success, 0, config).state).toBe(state)
  })

  it("a rule given bad parameters is reported by config as rules[i], without a throw", () => {
    const bad = [
      Machine.consecutiveFailures(0),
      Machine.failureRate({ threshold: 1.5 }),
      Machine.slowCallRate({ threshold: 0.5, slowerThan: -1 }),
      Machine.rates({ window: { calls: 0 } }),
      Machine.rates({ window: { seconds: 100_000 } }),
      Machine.rates({ window: { calls: 5 }, minimumCalls: 6 })
    ]
    for (const rule of bad) {
      const result = Machine.config({ rules: [Machine.consecutiveFailures(3), rule] })
      expect(Either.isLeft(result) && result.left.option).toBe("rules[1]")
    }
    const garbage = [
      Machine.rates({ window: 5 as unknown as Machine.WindowSize }),
      Machine.rates(null as unknown as Machine.RatesOptions),
      { name: "half a rule" } as unknown as Machine.TripRule
    ]
    for (const rule of garbage) {
      const result = Machine.config({ rules: [rule] })
      expect(Either.isLeft(result) && result.left.option).toBe("rules[0]")
    }
    const other = Machine.config({ halfOpenMaxProbes: 0 })
    expect(Either.isLeft(other) && other.left.option).toBe("halfOpenMaxProbes")
    expect(Either.isRight(Machine.config({}))).toBe(true)
  })

  it("the gauge order is Closed 0, HalfOpen 1, Open 2, Isolated 3, Disabled 4", () => {
    expect((["Closed", "HalfOpen", "Open", "Isolated", "Disabled"] as const).map(Machine.gaugeValue)).toEqual([
      0,
      1,
      2,
      3,
      4
    ])
  })

  it("a custom rule is a plain value: trips on its own reason", () => {
    // trips on the second failure of a call slower than 100 ms, whatever the successes between
    const slowFailures: Machine.TripRule<number> = {
      name: "slowFailures",
      invalid: undefined,
      initial: 0,
      usesClock: false,
      slowCallMillis: undefined,
      record: (n, call) => call._tag === "Failure" && call.durationMillis > 100 ? n + 1 : n,
      check: (n) => n >= 2 ? "failure-rate" : undefined
    }
    const config = Machine.unsafeConfig({ rules: [slowFailures] })
    let state = Machine.initial(config)
    const events: ReadonlyArray<Machine.Event> = [
      { _tag: "Failure", epoch: 0, durationMillis: 500 },
      { _tag: "Success", epoch: 0, durationMillis: 1 },
      { _tag: "Failure", epoch: 0, durationMillis: 5 },
      { _tag: "Failure", epoch: 0, durationMillis: 200 }
    ]
    const tags = events.map((event) => (state = Machine.transition(state, event, 7, config).state)._tag)
    expect(tags).toEqual(["Closed", "Closed", "Closed", "Open"])
  })
})

describe("CircuitBreakerMachine.encodeState / decodeState", () => {
  const roundTrip = (config: Machine.Config, state: Machine.State): Machine.State =>
    Either.getOrThrow(Machine.decodeState(config, JSON.parse(JSON.stringify(Machine.encodeState(state)))))

  it.prop(
    "decode(encode(s)), through JSON, behaves as s under transition for the rest of a random event sequence",
    [specArb, fc.array(stepArb, { maxLength: 60 }), fc.array(stepArb, { maxLength: 60 })],
    ([spec, before, after]) => {
      const config = configOf(spec)
      let state = Machine.initial(config)
      let now = 1_000_000
      const epochs: Array<number> = [0]
      const advance = (s: Machine.State, step: Step) => {
        const result = Machine.transition(s, eventOf(step, epochs), now, config)
        return result
      }
      for (const step of before) {
        now += step.wait
        const result = advance(state, step)
        state = result.state
        if (result.admission?._tag === "Admitted") epochs.push(result.admission.epoch)
        if (state._tag === "Closed" && epochs.at(-1) !== state.epoch) epochs.push(state.epoch)
      }
      let original = state
      let decoded = roundTrip(config, state)
      expect(observable(decoded)).toEqual(observable(original))
      for (const step of after) {
        now += step.wait
        const a = advance(original, step)
        const b = advance(decoded, step)
        expect(b.announcements).toEqual(a.announcements)
        expect(b.admission).toEqual(a.admission)
        expect(observable(b.state)).toEqual(observable(a.state))
        expect(Machine.windowView(config, b.state, now)).toEqual(Machine.windowView(config, a.state, now))
        original = a.state
        // and again through JSON at every step: encoding never loses what the next step needs
        decoded = roundTrip(config, b.state)
        if (a.admission?._tag === "Admitted") epochs.push(a.admission.epoch)
        if (original._tag === "Closed" && epochs.at(-1) !== original.epoch) epochs.push(original.epoch)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it("encodes a count window of 200,000 marks without overflowing the stack", () => {
    const config = Machine.unsafeConfig({
      rules: [Machine.rates({ window: { calls: 1_000_000 }, failureRate: 1, minimumCalls: 1_000_000 })]
    })
    let state = Machine.initial(config)
    const failure: Machine.Event = { _tag: "Failure", epoch: 0, durationMillis: 0 }
    for (let i = 0; i < 200_000; i++) state = Machine.transition(state, failure, 0, config).state
    const text = JSON.stringify(Machine.encodeState(state))
    const decoded = Either.getOrThrow(Machine.decodeState(config, JSON.parse(text)))
    expect(Machine.windowView(config, decoded, 0)).toEqual({ calls: 200_000, failures: 200_000, slow: 0 })
  })

  it.prop(
    "a foreign value decodes to a StateDecodeError, never a throw",
    [fc.anything()],
    ([value]) => {
      const config = Machine.unsafeConfig({})
      const result = Machine.decodeState(config, value)
      if (Either.isLeft(result)) expect(result.left._tag).toBe("StateDecodeError")
    }
  )

  it("a state written under other rules (another window size, another rule list) does not decode", () => {
    const written = Machine.unsafeConfig({ rules: [Machine.failureRate({ threshold: 0.5, window: { calls: 10 } })] })
    const encoded = JSON.parse(JSON.stringify(Machine.encodeState(Machine.initial(written))))
    const otherSize = Machine.unsafeConfig({ rules: [Machine.failureRate({ threshold: 0.5, window: { calls: 20 } })] })
    const otherKind = Machine.unsafeConfig({
      rules: [Machine.failureRate({ threshold: 0.5, window: { seconds: 10 } })]
    })
    const otherList = Machine.unsafeConfig({ rules: [Machine.consecutiveFailures(3)] })
    expect(Either.isRight(Machine.decodeState(written, encoded))).toBe(true)
    for (const config of [otherSize, otherKind, otherList]) {
      const result = Machine.decodeState(config, encoded)
      expect(Either.isLeft(result) && result.left._tag).toBe("StateDecodeError")
    }
    // totals that do not match the marks
    const tampered = { ...encoded, rules: [{ ...encoded.rules[0], failures: 3 }] }
    expect(Either.isLeft(Machine.decodeState(written, tampered))).toBe(true)
  })
})
