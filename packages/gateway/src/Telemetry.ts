/**
 * What the dashboard draws: the gateway's own request counters (by status
 * class, with latency and in-flight), every breaker's state history (from
 * the registry's event stream), every bulkhead (from `/resilience/status`,
 * where the server and the provider clients register theirs), retries and
 * rejections (read from the policies' Effect metrics), and a one-second
 * ring of samples so a freshly opened page has history at once.
 *
 * Also the request lifecycle, owned by the outermost middleware: every
 * request is counted in flight from its arrival until its response is
 * written or its connection closes (whichever comes first: a request whose
 * client went away is interrupted, even after its response was handed to
 * Node), and the server side of graceful shutdown: once draining, new
 * requests are answered `503 ShuttingDown` with `Retry-After` and
 * `Connection: close`, `drain` waits (interruptibly, with a deadline) for
 * the in-flight ones, and `abortInFlight` answers the ones left over.
 *
 * @since 0.1.0
 */
import type * as Simulated from "@effect-resilience/clients/Simulated"
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as ResilienceStatus from "@effect-resilience/http/ResilienceStatus"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Http from "node:http"
import type { FaultsView } from "./Api.js"
import * as HttpErrors from "./HttpErrors.js"
import { ownFiber } from "./HttpTransport.js"
import * as Observability from "./Observability.js"
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
  /** Set for a change of a fleet-wide breaker's shared state (`BREAKER_REDIS_URL`); absent for the gateway's own. */
  readonly fleet?: true
}

/**
 * A bulkhead as the status page lists it (`available`: permits free now;
 * `rejected`: calls refused since it was made, by reason), with its
 * rejections from the `resilience_bulkhead_rejections_total` metric.
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkheadView {
  readonly name: string
  readonly active: number
  readonly available: number
  readonly waiting: number
  readonly maxConcurrent: number
  readonly maxWaiting: number
  readonly rejected: { readonly full: number; readonly timeout: number }
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
  readonly middleware: <E, R>(app: HttpApp.Default<E, R>) => HttpApp.Default<E, R>
  readonly state: Effect.Effect<DashboardState>
  readonly samples: Effect.Effect<ReadonlyArray<Sample>>
  /** Completes when shutdown begins (server-sent event streams end on it). */
  readonly shutdown: Deferred.Deferred<void>
  /** Requests in flight now (the dashboard's figure). */
  readonly inFlight: () => number
  /** Refuse new requests from now on (503 `ShuttingDown`) and end the event streams. */
  readonly refuse: Effect.Effect<void>
  /**
   * Refuse new requests (`refuse`), then wait
   * until no request is in flight: at least `drainGrace` (requests already on
   * the wire are read and answered), at most `timeout`. Interruptible, so it
   * keeps its deadline inside a scope finalizer. `true` when drained.
   */
  readonly drain: (timeout: Duration.Duration) => Effect.Effect<boolean>
  /**
   * After a drain ran out of time: answer each unfinished request
   * `503 ShuttingDown` (unless its response has started) and interrupt it.
   * Returns how many there were.
   */
  readonly abortInFlight: Effect.Effect<number>
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
 * The least a drain waits, even with nothing in flight: a request sent just
 * before the signal may still be in the socket's buffer; it is read and
 * answered (503) instead of its connection being closed under it.
 *
 * @since 0.1.0
 * @category constants
 */
export const drainGrace: Duration.Duration = Duration.millis(250)

interface Live {
  readonly fiber: Fiber.RuntimeFiber<HttpServerResponse.HttpServerResponse, unknown>
  readonly response: Http.ServerResponse | undefined
}

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
      case "resilience_bulkhead_rejections_total":
        add(view.bulkheadRejections, tagOf(tags, "service") ?? "?", value)
        break
      case "resilience_retry_attempts_total":
        add(view.retries, `${tagOf(tags, "service")}/${tagOf(tags, "operation")}`, value)
        break
      case "resilience_retry_give_ups_total":
        add(view.giveUps, `${tagOf(tags, "service")}/${tagOf(tags, "operation")}`, value)
        break
      case "resilience_rate_limiter_decisions_total":
        if (tagOf(tags, "outcome") === "rejected") add(view.limiterRejections, tagOf(tags, "service") ?? "?", value)
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
      const transition = { at: change.at, seq: seq++, from: change.from, to: change.to, reason: change.reason }
      list.push(change.fleet === true ? { ...transition, fleet: true } : transition)
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

  const refusedBody = HttpErrors.transportErrorJson(
    new HttpErrors.ShuttingDown({ retryAfter: 1, message: "The gateway is shutting down: retry on another instance" })
  )
  const refused = HttpServerResponse.text(refusedBody, {
    status: 503,
    contentType: "application/json",
    headers: { "connection": "close", "retry-after": "1" }
  })
  const abandonedBody = HttpErrors.transportErrorJson(
    new HttpErrors.ShuttingDown({
      retryAfter: 1,
      message: "The gateway shut down before this request finished: " +
        "an order may or may not have been placed, look it up by its clientOrderId"
    })
  )

  // A response written while draining closes its connection behind it.
  const closeWhileDraining: HttpApp.PreResponseHandler = (_request, response) =>
    Effect.succeed(draining ? HttpServerResponse.setHeader(response, "connection", "close") : response)

  const live = new Set<Live>()

  const statusOf = <E>(exit: Exit.Exit<HttpServerResponse.HttpServerResponse, E>, response?: Http.ServerResponse) => {
    if (exit._tag === "Success") return exit.value.status
    if (response !== undefined && response.headersSent) return response.statusCode
    return Cause.isInterruptedOnly(exit.cause) ? 499 : 500
  }

  const middleware = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.withFiberRuntime<
        HttpServerResponse.HttpServerResponse,
        E,
        R | HttpServerRequest.HttpServerRequest
      >((fiber) => {
        if (draining) {
          record(503, 0)
          Observability.unsafeRecordRequest(request.method, request.url, 503, 0)
          return Effect.succeed(refused)
        }
        const source = NodeHttpServerRequest.toIncomingMessage(request)
        const response = source instanceof Http.IncomingMessage
          ? NodeHttpServerRequest.toServerResponse(request)
          : undefined
        const entry: Live = { fiber, response }
        inFlight++
        live.add(entry)
        // The platform interrupts a request whose connection closes before `end()`; a connection that
        // closes after `end()` but before the response is flushed leaves it waiting forever for
        // 'finish' (the leak seen on the 429 path). Interrupt that one too.
        const onClose = () => {
          if (response !== undefined && !response.writableFinished) {
            fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId)
          }
        }
        response?.once("close", onClose)
        if (response !== undefined && response.destroyed) onClose()
        const start = performance.now()
        return Effect.zipRight(HttpApp.appendPreResponseHandler(closeWhileDraining), app).pipe(
          // The platform runs the app uninterruptibly; the response write must be interruptible for the above.
          Effect.interruptible,
          Effect.onExit((exit) =>
            Effect.sync(() => {
              inFlight--
              live.delete(entry)
              response?.off("close", onClose)
              const status = statusOf(exit, response)
              const millis = performance.now() - start
              record(status, millis)
              Observability.unsafeRecordRequest(request.method, request.url, status, millis / 1000)
            })
          )
        )
      }))

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

  const refuse = Effect.zipRight(
    Effect.sync(() => {
      draining = true
    }),
    Deferred.succeed(shutdown, undefined)
  )

  const drain = (timeout: Duration.Duration): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      yield* refuse
      const grace = Duration.min(drainGrace, timeout)
      const idle = Effect.repeat(Effect.sync(() => inFlight === 0), {
        until: (empty) => empty,
        schedule: Schedule.spaced("10 millis")
      })
      const done = yield* ownFiber(Effect.timeoutOption(Effect.zipRight(Effect.sleep(grace), idle), timeout))
      return done._tag === "Some"
    })

  const abortInFlight: Effect.Effect<number> = Effect.flatMap(Effect.fiberId, (self) =>
    Effect.sync(() => {
      const entries = [...live]
      for (const { fiber, response } of entries) {
        if (response !== undefined && !response.headersSent && !response.writableEnded && !response.destroyed) {
          response.writeHead(503, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(abandonedBody),
            "retry-after": "1",
            "connection": "close"
          })
          response.end(abandonedBody)
        }
        fiber.unsafeInterruptAsFork(self)
      }
      return entries.length
    }))

  return Telemetry.of({
    requests,
    middleware,
    state,
    samples: Effect.sync(() => samples.slice()),
    shutdown,
    inFlight: () => inFlight,
    refuse,
    drain,
    abortInFlight,
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
