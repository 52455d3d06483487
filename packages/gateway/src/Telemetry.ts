/**
 * What the dashboard draws: the gateway's own request counters (by status
 * class, with latency and in-flight), every breaker's state history (from
 * the registry's event stream), every bulkhead (from `/resilience/status`,
 * where the server and the provider clients register theirs), retries and
 * rejections (read from the policies' Effect metrics), and a one-second
 * ring of samples so a freshly opened page has history at once.
 *
 * Also the server side of graceful shutdown: once `draining` is set, new
 * requests are answered 503 with `Connection: close`, and `drain` waits for
 * the in-flight ones.
 *
 * @since 0.1.0
 */
import type * as Simulated from "@effect-resilience/clients/Simulated"
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as ResilienceStatus from "@effect-resilience/http/ResilienceStatus"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type { FaultsView } from "./Api.js"
import { FaultControl } from "./Providers.js"

/**
 * Cumulative request counters (since start).
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestCounters {
  total: number
  ok: number
  clientErrors: number
  rateLimited: number
  unavailable: number
  gatewayTimeouts: number
  serverErrors: number
  latencyTotalMillis: number
}

/**
 * One state change of a breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  readonly at: number
  /**
   * The order in which the gateway saw its state changes (all breakers, from
   * 0): a breaker can open and go half-open within one millisecond, so `at`
   * alone cannot order them.
   */
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly reason: string
}

/**
 * A bulkhead as the status page lists it, with its rejections (from the
 * `effect_resilience_bulkhead_rejections_total` metric).
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkheadView {
  readonly name: string
  readonly active: number
  readonly waiting: number
  readonly maxConcurrent: number
  readonly maxWaiting: number
  readonly rejections: number
}

/**
 * Per provider operation (`service/operation`, the breaker's name).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderView {
  readonly name: string
  readonly retries: number
  readonly giveUps: number
  readonly breakerRejections: number
  readonly bulkheadRejections: number
  readonly limiterRejections: number
}

/**
 * One second of history (cumulative counters: the page draws differences).
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  readonly at: number
  readonly requests: RequestCounters
  readonly inFlight: number
  readonly retries: Readonly<Record<string, number>>
  readonly rejections: Readonly<Record<string, number>>
  readonly bulkheads: Readonly<Record<string, number>>
  readonly limiters: Readonly<Record<string, { readonly allowed: number; readonly rejected: number }>>
}

/**
 * Everything the dashboard shows, in one JSON frame.
 *
 * @since 0.1.0
 * @category models
 */
export interface DashboardState {
  readonly at: number
  readonly startedAt: number
  readonly draining: boolean
  readonly providers: { readonly broker: string; readonly marketData: string }
  readonly status: ResilienceStatus.Snapshot
  readonly history: Readonly<Record<string, ReadonlyArray<Transition>>>
  readonly bulkheads: ReadonlyArray<BulkheadView>
  readonly providerStats: ReadonlyArray<ProviderView>
  readonly requests: RequestCounters
  readonly inFlight: number
  readonly faults: { readonly broker: FaultsView | null; readonly marketdata: FaultsView | null }
  readonly traffic: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly requests: RequestCounters
  /** Wraps the whole server app: counts, times, refuses while draining. */
  readonly middleware: (app: HttpApp.Default) => HttpApp.Default
  readonly state: Effect.Effect<DashboardState>
  readonly samples: Effect.Effect<ReadonlyArray<Sample>>
  /** Completes when shutdown begins (server-sent event streams end on it). */
  readonly shutdown: Deferred.Deferred<void>
  /** Refuse new requests, then wait (up to `timeout`) until no request is in flight. */
  readonly drain: (timeout: Duration.Duration) => Effect.Effect<boolean>
  readonly setTraffic: (rps: number) => void
  readonly traffic: () => number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Telemetry extends Context.Tag("@effect-resilience/gateway/Telemetry")<Telemetry, Service>() {}

const MAX_HISTORY = 200
const MAX_SAMPLES = 300

/**
 * The faults in force, as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export const viewFaults = (f: Simulated.Faults): FaultsView => ({
  outage: f.outage,
  errorRate: f.errorRate,
  rateLimitBurst: f.rateLimitBurst,
  rateLimitRetryAfterMillis: Duration.toMillis(f.rateLimitRetryAfter),
  latencyMillis: Duration.toMillis(f.latency.base),
  slowQuotesMillis: Duration.toMillis(f.slowQuotes),
  timeoutAfterAcceptRate: f.timeoutAfterAcceptRate,
  hangForMillis: Duration.toMillis(f.hangFor)
})

const tagOf = (tags: ReadonlyArray<{ key: string; value: string }>, key: string): string | undefined =>
  tags.find((t) => t.key === key)?.value

interface MetricView {
  readonly bulkheadRejections: Map<string, number>
  readonly retries: Map<string, number>
  readonly giveUps: Map<string, number>
  readonly limiterRejections: Map<string, number>
}

const readMetrics: Effect.Effect<MetricView> = Effect.map(Metric.snapshot, (pairs) => {
  const view: MetricView = {
    bulkheadRejections: new Map(),
    retries: new Map(),
    giveUps: new Map(),
    limiterRejections: new Map()
  }
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n)
  for (const pair of pairs) {
    const { name, tags } = pair.metricKey
    const state = pair.metricState
    const value = MetricState.isCounterState(state)
      ? Number(state.count)
      : MetricState.isGaugeState(state)
      ? Number(state.value)
      : undefined
    if (value === undefined) continue
    switch (name) {
      case "effect_resilience_bulkhead_rejections_total":
        add(view.bulkheadRejections, tagOf(tags, "bulkhead") ?? "?", value)
        break
      case "resilience_retry_attempts_total":
        add(view.retries, `${tagOf(tags, "service")}/${tagOf(tags, "operation")}`, value)
        break
      case "resilience_retry_give_ups_total":
        add(view.giveUps, `${tagOf(tags, "service")}/${tagOf(tags, "operation")}`, value)
        break
      case "effect_resilience_rate_limiter_decisions_total":
        if (tagOf(tags, "outcome") === "rejected") add(view.limiterRejections, tagOf(tags, "limiter") ?? "?", value)
        break
    }
  }
  return view
})

/**
 * Build the telemetry service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
  const control = yield* FaultControl
  const context = yield* Effect.context<never>()
  const startedAt = yield* Clock.currentTimeMillis
  const shutdown = yield* Deferred.make<void>()
  const requests: RequestCounters = {
    total: 0,
    ok: 0,
    clientErrors: 0,
    rateLimited: 0,
    unavailable: 0,
    gatewayTimeouts: 0,
    serverErrors: 0,
    latencyTotalMillis: 0
  }
  let inFlight = 0
  let draining = false
  let traffic = 0
  const history = new Map<string, Array<Transition>>()
  let seq = 0
  const samples: Array<Sample> = []

  // Breaker history: every state change of every breaker of the registry.
  const events = yield* registry.subscribe
  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(events), (change) =>
    Effect.sync(() => {
      let list = history.get(change.breaker)
      if (list === undefined) {
        list = []
        history.set(change.breaker, list)
      }
      list.push({ at: change.at, seq: seq++, from: change.from, to: change.to, reason: change.reason })
      if (list.length > MAX_HISTORY) list.shift()
    }))))

  const record = (status: number, millis: number) => {
    requests.total++
    requests.latencyTotalMillis += millis
    if (status < 400) requests.ok++
    else if (status === 429) requests.rateLimited++
    else if (status === 503) requests.unavailable++
    else if (status === 504) requests.gatewayTimeouts++
    else if (status >= 500) requests.serverErrors++
    else requests.clientErrors++
  }

  const refused = HttpServerResponse.unsafeJson(
    { _tag: "ShuttingDown", message: "The gateway is shutting down" },
    { status: 503, headers: { "connection": "close", "retry-after": "1" } }
  )

  // A response written while draining closes its connection behind it.
  const closeWhileDraining: HttpApp.PreResponseHandler = (_request, response) =>
    Effect.succeed(draining ? HttpServerResponse.setHeader(response, "connection", "close") : response)

  const middleware = (app: HttpApp.Default): HttpApp.Default =>
    Effect.suspend(() => {
      if (draining) {
        record(503, 0)
        return Effect.succeed(refused)
      }
      inFlight++
      const start = performance.now()
      // (a middleware runs around the response being written, so headers go through a pre-response handler)
      return Effect.onExit(Effect.zipRight(HttpApp.appendPreResponseHandler(closeWhileDraining), app), (exit) =>
        Effect.sync(() => {
          inFlight--
          record(exit._tag === "Success" ? exit.value.status : 500, performance.now() - start)
        }))
    })

  const readFaults = (injector: typeof control.broker) =>
    injector._tag === "Some" ? Effect.map(injector.value.get, viewFaults) : Effect.succeed(null)

  const bulkheadsOf = (metrics: MetricView, status: ResilienceStatus.Snapshot): Array<BulkheadView> =>
    status.bulkheads.map((b) => ({ ...b, rejections: metrics.bulkheadRejections.get(b.name) ?? 0 }))

  const providerStatsOf = (metrics: MetricView, status: ResilienceStatus.Snapshot): Array<ProviderView> =>
    status.breakers.map((b) => ({
      name: b.name,
      retries: metrics.retries.get(b.name) ?? 0,
      giveUps: metrics.giveUps.get(b.name) ?? 0,
      breakerRejections: b.rejections,
      bulkheadRejections: metrics.bulkheadRejections.get(b.name) ?? 0,
      limiterRejections: metrics.limiterRejections.get(`clients/${b.service}`) ?? 0
    }))

  const snapshot = Effect.provide(ResilienceStatus.snapshot, context)

  const state: Effect.Effect<DashboardState> = Effect.gen(function*() {
    const status = yield* snapshot
    const metrics = yield* readMetrics
    const at = yield* Clock.currentTimeMillis
    return {
      at,
      startedAt,
      draining,
      providers: { broker: control.brokerName, marketData: control.marketDataName },
      status,
      history: Object.fromEntries(history),
      bulkheads: bulkheadsOf(metrics, status),
      providerStats: providerStatsOf(metrics, status),
      requests: { ...requests },
      inFlight,
      faults: { broker: yield* readFaults(control.broker), marketdata: yield* readFaults(control.marketData) },
      traffic
    }
  })

  const sample = Effect.gen(function*() {
    const s = yield* state
    const retries: Record<string, number> = {}
    const rejections: Record<string, number> = {}
    for (const p of s.providerStats) {
      retries[p.name] = p.retries
      rejections[p.name] = p.breakerRejections + p.bulkheadRejections + p.limiterRejections
    }
    const bulkheads: Record<string, number> = {}
    for (const b of s.bulkheads) bulkheads[b.name] = b.active
    const limiters: Record<string, { allowed: number; rejected: number }> = {}
    for (const l of s.status.limiters) limiters[l.name] = { allowed: l.allowed, rejected: l.rejected }
    samples.push({ at: s.at, requests: s.requests, inFlight: s.inFlight, retries, rejections, bulkheads, limiters })
    if (samples.length > MAX_SAMPLES) samples.shift()
  })
  yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced("1 second")))

  const drain = (timeout: Duration.Duration): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      draining = true
      yield* Deferred.succeed(shutdown, undefined)
      const done = yield* Effect.repeat(Effect.sync(() => inFlight === 0), {
        until: (empty) => empty,
        schedule: Schedule.spaced("10 millis")
      }).pipe(Effect.timeoutOption(timeout))
      return done._tag === "Some"
    })

  return Telemetry.of({
    requests,
    middleware,
    state,
    samples: Effect.sync(() => samples.slice()),
    shutdown,
    drain,
    setTraffic: (rps) => {
      traffic = rps
    },
    traffic: () => traffic
  })
})

/**
 * The telemetry layer (scoped: its sampling fibers stop with it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.scoped(Telemetry, make)
