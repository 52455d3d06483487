/**
 * Section 1: success-path overhead per call, one caller, above a bare call.
 *
 * Effect variants run n calls inside one Effect program (a `whileLoop` in one
 * fiber, the wrapped effect built per call as a user would) and subtract the
 * same loop around the bare effect. Promise peers await n calls in a loop and
 * subtract the bare await loop. Two inner calls: a synchronous
 * `Effect.succeed` (the pure policy cost; our Timeout arms no timer for it) and
 * a resolved Promise (`Effect.promise` / `async () => 1`: the inner suspends,
 * so every timeout arms a timer, like cockatiel's always does).
 */
import {
  bulkhead as cBulkhead,
  circuitBreaker as cBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  fallback as cFallback,
  handleAll,
  retry as cRetry,
  timeout as cTimeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Effect, Schedule, STM, TRef } from "effect"
import OpossumBreaker from "opossum"
import * as Policy from "../../packages/core/src/Policy.js"
import type { Measured, SectionResult, Settings, Table, Target, Variant } from "./harness.js"
import { effectLoop, fmtNs, fmtRatio, log, measure, promiseLoop, spread } from "./harness.js"
import { makePolicies } from "./policies.js"

const TITLE = "1. Success-path overhead per call (one caller)"

type Eff = Effect.Effect<unknown, unknown, never>

/** n calls of `body()` in one fiber. */
const effectVariant = <R>(
  label: string,
  run: (effect: Effect.Effect<void, unknown, R>) => Promise<void>,
  body: () => Effect.Effect<unknown, unknown, R>
): Variant => ({ label, run: effectLoop(run, body) })

const promiseVariant = (label: string, body: () => Promise<unknown>, maxOps?: number): Variant => ({
  label,
  maxOps,
  run: promiseLoop(body)
})

/** A breaker written the naive way: failure count in a TRef, read and written through STM on every call. */
const naiveBreaker = (ref: TRef.TRef<number>) => <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E | Error> =>
  Effect.flatMap(STM.commit(TRef.get(ref)), (failures): Effect.Effect<A, E | Error> =>
    failures >= 5
      ? Effect.fail(new Error("open"))
      : Effect.tapBoth(self, {
        onFailure: () => STM.commit(TRef.update(ref, (n) => n + 1)),
        onSuccess: () => STM.commit(TRef.set(ref, 0))
      }))

interface Row {
  readonly group: string
  readonly label: string
  readonly measured: Measured
  readonly added: number
  readonly base: string
}

export const run = async (settings: Settings): Promise<SectionResult> => {
  const policies = await makePolicies()
  const {
    breaker,
    bulkhead,
    composed,
    options,
    resilient,
    resilientSpan,
    retry,
    runDefault,
    runResilience,
    runTraced,
    stacked,
    timeout
  } = policies
  const { adaptive, adaptivePerCall, fallback, faultOff, faultOnRate0, hedge, lastGood } = policies
  const { adaptiveRate, rateLimiterFail, rateLimiterWait } = policies

  // naive: Effect's own primitives
  const tref = await Effect.runPromise(STM.commit(TRef.make(0)))
  const semaphore = await Effect.runPromise(Effect.makeSemaphore(10))
  const schedule = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
  const nBreaker = naiveBreaker(tref)
  const naiveStack = <A, E>(self: Effect.Effect<A, E>) =>
    semaphore.withPermits(1)(Effect.retry(nBreaker(Effect.timeout(self, "10 seconds")), schedule))

  // cockatiel and opossum
  const cb = cBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) })
  const cr = cRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() })
  const cbh = cBulkhead(10, 0)
  const cto = cTimeout(10_000, TimeoutStrategy.Cooperative)
  const ctoAggressive = cTimeout(10_000, TimeoutStrategy.Aggressive)
  const cAll = wrap(cbh, cr, cb, cto)
  const cfb = cFallback(handleAll, 0)
  const fn = async () => 1
  const opossum = new OpossumBreaker(fn, { timeout: 10_000 })
  const opossumNoTimer = new OpossumBreaker(fn, { timeout: false })

  const sync: Eff = Effect.succeed(1)
  const promise: Eff = Effect.promise(fn)
  const slow = 20_000 // cap calls per round for variants costing tens of µs

  const groups: Array<{ name: string; base: Variant; variants: Array<Variant> }> = [
    {
      name: "Effect, synchronous inner (`Effect.succeed`)",
      base: effectVariant("bare call", runDefault, () => sync),
      variants: [
        effectVariant("ours: CircuitBreaker", runDefault, () => breaker.execute(sync)),
        effectVariant("ours: Retry", runDefault, () => retry.execute(sync)),
        effectVariant("ours: Bulkhead", runDefault, () => bulkhead.execute(sync)),
        effectVariant("ours: AdaptiveBulkhead (Vegas, by window)", runDefault, () => adaptive.execute(sync)),
        effectVariant("ours: AdaptiveBulkhead (Gradient2, per call)", runDefault, () => adaptivePerCall.execute(sync)),
        effectVariant("ours: Timeout", runDefault, () => timeout.execute(sync)),
        effectVariant("ours: Policy.stack (4)", runDefault, () => stacked(sync)),
        effectVariant("ours: Policy.compose (4)", runDefault, () => composed(sync)),
        effectVariant("ours: withResilience (4)", runResilience, () => resilient(sync)),
        effectVariant(
          "ours: withResilience data-first per call",
          runResilience,
          () => Policy.withResilience(sync, options)
        ),
        effectVariant("ours: Fallback.value", runDefault, () => fallback.execute(sync)),
        effectVariant("ours: Fallback.lastGood", runDefault, () => lastGood.execute(sync)),
        effectVariant("ours: FaultInjection (off)", runDefault, () => faultOff.execute(sync)),
        effectVariant("ours: FaultInjection (on, rate 0)", runDefault, () => faultOnRate0.execute(sync)),
        effectVariant("ours: Hedge (idempotent)", runDefault, () => hedge.execute(sync)),
        effectVariant("ours: RateLimiter (fail mode)", runDefault, () => rateLimiterFail.execute(sync)),
        effectVariant("ours: RateLimiter (wait mode)", runDefault, () => rateLimiterWait.execute(sync)),
        effectVariant("ours: AdaptiveRateLimiter", runDefault, () => adaptiveRate.execute(sync)),
        effectVariant("ours: withResilience (4), OTel tracer installed", runTraced, () => resilient(sync)),
        effectVariant("ours: withResilience (4) + span, no tracer", runResilience, () => resilientSpan(sync)),
        effectVariant("ours: withResilience (4) + span, OTel tracer", runTraced, () => resilientSpan(sync)),
        effectVariant("naive: TRef breaker", runDefault, () => nBreaker(sync)),
        effectVariant("naive: Effect.retry(exponential ∩ recurs(3))", runDefault, () => Effect.retry(sync, schedule)),
        effectVariant("naive: Semaphore.withPermits(1)", runDefault, () => semaphore.withPermits(1)(sync)),
        {
          ...effectVariant("naive: Effect.timeout", runDefault, () => Effect.timeout(sync, "10 seconds")),
          maxOps: slow
        },
        { ...effectVariant("naive: stack (4)", runDefault, () => naiveStack(sync)), maxOps: slow }
      ]
    },
    {
      name: "Effect, inner suspends (`Effect.promise` of a resolved Promise)",
      base: effectVariant("bare call", runDefault, () => promise),
      variants: [
        effectVariant("ours: CircuitBreaker", runDefault, () => breaker.execute(promise)),
        effectVariant("ours: Timeout", runDefault, () => timeout.execute(promise)),
        effectVariant("ours: Bulkhead", runDefault, () => bulkhead.execute(promise)),
        effectVariant("ours: AdaptiveBulkhead (Vegas, by window)", runDefault, () => adaptive.execute(promise)),
        effectVariant("ours: Fallback.value", runDefault, () => fallback.execute(promise)),
        {
          ...effectVariant("ours: Hedge (idempotent, primary wins)", runDefault, () => hedge.execute(promise)),
          maxOps: slow
        },
        effectVariant("ours: withResilience (4)", runResilience, () => resilient(promise)),
        effectVariant("ours: withResilience (4), OTel tracer installed", runTraced, () => resilient(promise)),
        effectVariant("ours: withResilience (4) + span, OTel tracer", runTraced, () => resilientSpan(promise)),
        { ...effectVariant("naive: stack (4)", runDefault, () => naiveStack(promise)), maxOps: slow }
      ]
    },
    {
      name: "Promise peers (`await policy.execute(async () => 1)`)",
      base: promiseVariant("bare await", fn),
      variants: [
        promiseVariant("cockatiel: circuitBreaker", () => cb.execute(fn)),
        promiseVariant("cockatiel: retry", () => cr.execute(fn)),
        promiseVariant("cockatiel: bulkhead", () => cbh.execute(fn)),
        promiseVariant("cockatiel: fallback", () => cfb.execute(fn)),
        promiseVariant("cockatiel: timeout (cooperative)", () => cto.execute(fn), slow),
        promiseVariant("cockatiel: timeout (aggressive)", () => ctoAggressive.execute(fn), slow),
        promiseVariant("cockatiel: wrap (4)", () => cAll.execute(fn), slow),
        promiseVariant("opossum: breaker (default 10 s timeout)", () => opossum.fire(), slow),
        promiseVariant("opossum: breaker (timeout: false)", () => opossumNoTimer.fire())
      ]
    }
  ]

  const rows: Array<Row> = []
  for (const group of groups) {
    log(`overhead: ${group.name}`)
    const measured = await measure(settings, [group.base, ...group.variants])
    const base = measured[0]
    rows.push({ group: group.name, label: base.label, measured: base, added: 0, base: "" })
    for (const m of measured.slice(1)) {
      rows.push({ group: group.name, label: m.label, measured: m, added: m.nsPerOp - base.nsPerOp, base: base.label })
    }
  }
  await policies.dispose()
  opossum.shutdown()
  opossumNoTimer.shutdown()

  const added = (label: string, group = 0): number =>
    rows.find((r) => r.group === groups[group].name && r.label === label)?.added ?? Number.NaN
  const cockatielWrap = added("cockatiel: wrap (4)", 2)
  const ours = added("ours: withResilience (4)")
  const oursAsync = added("ours: withResilience (4)", 1)

  const tables: Array<Table> = groups.map((group) => ({
    title: group.name,
    columns: ["variant", "per call (median)", "added", "vs cockatiel wrap", "spread"],
    rows: rows.filter((r) => r.group === group.name).map((r) => [
      r.label,
      fmtNs(r.measured.nsPerOp),
      r.base === "" ? "—" : fmtNs(r.added),
      r.base === "" ? "—" : fmtRatio(r.added / cockatielWrap),
      `${spread(r.measured.samples).toFixed(0)}%`
    ])
  }))

  const policyTargets: Array<Target> = [
    ["CircuitBreaker", "ours: CircuitBreaker"],
    ["Retry", "ours: Retry"],
    ["Bulkhead", "ours: Bulkhead"],
    ["Timeout", "ours: Timeout"]
  ].map(([name, label]) => {
    const a = added(label)
    return { name: `${name} alone`, goal: "≤ 500 ns added", actual: fmtNs(a), met: a <= 500 }
  })
  const targets: Array<Target> = [
    { name: "Full stack (withResilience, sync inner)", goal: "≤ 2 µs added", actual: fmtNs(ours), met: ours <= 2000 },
    {
      name: "Full stack vs cockatiel wrap",
      goal: "≤ 1/8 of cockatiel's",
      actual: `${fmtNs(ours)} vs ${fmtNs(cockatielWrap)} = 1/${(cockatielWrap / ours).toFixed(1)}`,
      met: ours * 8 <= cockatielWrap
    },
    {
      name: "Full stack, inner suspends (info)",
      goal: "≤ 2 µs added",
      actual: fmtNs(oursAsync),
      met: oursAsync <= 2000
    },
    ...policyTargets
  ]
  return {
    title: TITLE,
    tables,
    notes: [
      "Added = median ns per call of the variant minus the median of the bare loop in the same group (rounds interleaved).",
      "OTel tracer installed = `@effect/opentelemetry`'s `NodeSdk.layer` with the SDK's `BatchSpanProcessor` over an exporter that drops the spans, and no span around the call (the policies record span events only on decision paths, so a success adds nothing); + span = `withResilience({ …, span: true })`, one span per call (with no tracer installed, Effect's own span object).",
      "withResilience (4) uses the default profile (`internal`: breaker + retry 3 + bulkhead + 10 s timeout); the policy is built once (`withResilience(options)`) and applied per call. The data-first row builds `withResilience(self, options)` on every call.",
      "Naive stack = `semaphore.withPermits(1)(Effect.retry(trefBreaker(Effect.timeout(self, \"10 seconds\")), exponential ∩ recurs(3)))`. cockatiel `wrap(bulkhead(10), retry(3, exponential), breaker(consecutive 5), timeout(10 s, cooperative))`.",
      "Issue 18's policies alone: `Fallback.value(0)`, `Fallback.lastGood({ maxAge: 1 minute })` (remembers each success), `FaultInjection.failure` switched off (default) and switched on at rate 0 (a `Random` draw per call), `Hedge` with a 1 s delay (a primary that suspends starts the hedging machinery: an async wait, a timer and an exit observer per attempt). cockatiel `fallback(handleAll, 0)`.",
      "Rate limiters at rates no call waits for (1e9 a second, one shared bucket, memory store): `RateLimiter.execute` in fail and wait mode (the fixed limiter), `AdaptiveRateLimiter.execute` (a token, the call, and its success fed to the learning rule).",
      "Issue 19: `AdaptiveBulkhead` at the fixed bulkhead's size (limit 10), Vegas sampling by window (the default: a sample folded into the window per call, the algorithm run once a second) and Gradient2 updating per call (`window: false`); both read the fiber's Clock twice per call.",
      "Spread = (max − min) / median of the per-round figures: the noise of this shared machine."
    ],
    targets
  }
}
