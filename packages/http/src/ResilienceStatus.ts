/**
 * A status API for the resilience policies of a server: `GET
 * /resilience/status` returns a JSON snapshot of every circuit breaker
 * (state, counts, next attempt), bulkhead (active, available, waiting, rejections) and rate limiter
 * (keys, global remaining), with a `Snapshot` Schema so clients, dashboards
 * and tests can decode it.
 *
 * Reach for it to see, during an incident, which dependency is cut off and
 * why. Breakers come from core's `CircuitBreakerRegistry` and from
 * `StatusSources` (e.g. `ResilientHttpClient`'s per-host breakers); bulkheads
 * and limiters from `StatusSources` (where `LoadShedding.layer` and
 * `RateLimit.layer` register theirs). Either service may be absent.
 *
 * ```ts
 * class Api extends HttpApi.make("api").add(Orders).add(ResilienceStatus.Group) {}
 * const ApiLive = HttpApiBuilder.api(Api).pipe(
 *   Layer.provide([OrdersLive, ResilienceStatus.layer(Api)]),
 *   Layer.provide([CircuitBreakerRegistry.layer, StatusSources.layer])
 * )
 * ```
 *
 * The snapshot shows limits and internals: protect the group (an
 * authentication middleware on it) or do not expose it publicly.
 *
 * @since 0.1.0
 */
import type * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import { CircuitBreakerRegistry } from "@effect-resilience/core/CircuitBreakerRegistry"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as StatusSourcesModule from "./StatusSources.js"
import { StatusSources } from "./StatusSources.js"

const BreakerState = Schema.Literal("Closed", "Open", "HalfOpen", "Isolated", "Disabled")

/**
 * The fleet's part of a fleet-wide breaker (core's
 * `CircuitBreaker.FleetSnapshot`): `mode` is `shared` while the store
 * answers and `local-fallback` while it does not; `state` is the fleet's
 * state as this instance last saw it; `failingInstances` are the instances
 * whose failures are in the fleet's current window (`lastFailureAt` on the
 * store's clock, epoch milliseconds).
 *
 * @since 0.3.0
 * @category schemas
 */
export const BreakerFleetStatus = Schema.Struct({
  mode: Schema.Literal("shared", "local-fallback"),
  state: BreakerState,
  instanceId: Schema.String,
  failingInstances: Schema.Array(Schema.Struct({
    instance: Schema.String,
    failures: Schema.Number,
    lastFailureAt: Schema.Number
  })),
  version: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type BreakerFleetStatus = typeof BreakerFleetStatus.Type

/**
 * One circuit breaker. Times are epoch milliseconds; `nextAttemptAt` is when
 * an open breaker will admit a probe. `fleet` is present only for a
 * fleet-wide breaker (absent: the breaker is this process's own).
 *
 * @since 0.1.0
 * @category schemas
 */
export const BreakerStatus = Schema.Struct({
  name: Schema.String,
  service: Schema.String,
  resource: Schema.String,
  state: BreakerState,
  calls: Schema.Number,
  successes: Schema.Number,
  failures: Schema.Number,
  rejections: Schema.Number,
  consecutiveFailures: Schema.Number,
  failureRate: Schema.Number,
  slowCallRate: Schema.Number,
  openedAt: Schema.NullOr(Schema.Number),
  nextAttemptAt: Schema.NullOr(Schema.Number),
  trips: Schema.Number,
  fleet: Schema.optional(BreakerFleetStatus)
})

/**
 * @since 0.1.0
 * @category models
 */
export type BreakerStatus = typeof BreakerStatus.Type

/**
 * One bulkhead (a `LoadShedding` server bulkhead, or one you registered).
 *
 * @since 0.1.0
 * @category schemas
 */
export const BulkheadStatus = Schema.Struct({
  name: Schema.String,
  active: Schema.Number,
  /** Permits free now. */
  available: Schema.Number,
  waiting: Schema.Number,
  maxConcurrent: Schema.Number,
  maxWaiting: Schema.Number,
  /** Calls rejected since the bulkhead was made, by reason. */
  rejected: Schema.Struct({ full: Schema.Number, timeout: Schema.Number })
})

/**
 * @since 0.1.0
 * @category models
 */
export type BulkheadStatus = typeof BulkheadStatus.Type

/**
 * One rate limiter. `keys` is `-1` when the store cannot count them;
 * `globalRemaining` / `globalLimit` are `null` without a global bucket.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LimiterStatus = Schema.Struct({
  name: Schema.String,
  limit: Schema.Number,
  windowSeconds: Schema.Number,
  keys: Schema.Number,
  globalRemaining: Schema.NullOr(Schema.Number),
  globalLimit: Schema.NullOr(Schema.Number),
  allowed: Schema.Number,
  rejected: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type LimiterStatus = typeof LimiterStatus.Type

/**
 * The body of `GET /resilience/status`. `at` is the server's time (epoch ms).
 *
 * @since 0.1.0
 * @category schemas
 */
export class Snapshot extends Schema.Class<Snapshot>("@effect-resilience/http/ResilienceStatus/Snapshot")({
  at: Schema.Number,
  breakers: Schema.Array(BreakerStatus),
  bulkheads: Schema.Array(BulkheadStatus),
  limiters: Schema.Array(LimiterStatus)
}) {}

/**
 * The group: `GET /resilience/status` (top level, so no group prefix). Add it
 * to your API with `.add(ResilienceStatus.Group)`.
 *
 * @since 0.1.0
 * @category groups
 */
export const Group: HttpApiGroup.HttpApiGroup<
  "resilienceStatus",
  HttpApiEndpoint.HttpApiEndpoint<"status", "GET", never, never, never, never, Snapshot>,
  never,
  never,
  true
> = HttpApiGroup.make("resilienceStatus", { topLevel: true }).add(
  HttpApiEndpoint.get("status", "/resilience/status").addSuccess(Snapshot)
)

const fromBreaker = (s: CircuitBreaker.Snapshot): BreakerStatus => ({
  name: s.name,
  service: s.service,
  resource: s.resource,
  state: s.state,
  calls: s.calls,
  successes: s.successes,
  failures: s.failures,
  rejections: s.rejections,
  consecutiveFailures: s.consecutiveFailures,
  failureRate: s.failureRate,
  slowCallRate: s.slowCallRate,
  openedAt: s.openedAt._tag === "Some" ? s.openedAt.value : null,
  nextAttemptAt: s.nextAttemptAt._tag === "Some" ? s.nextAttemptAt.value : null,
  trips: s.trips,
  ...(s.fleet === undefined ? {} : {
    fleet: {
      mode: s.fleet.mode,
      state: s.fleet.state,
      instanceId: s.fleet.instanceId,
      failingInstances: s.fleet.failingInstances.map((f) => ({
        instance: f.instance,
        failures: f.failures,
        lastFailureAt: f.lastFailureAt
      })),
      version: s.fleet.version
    }
  })
})

/**
 * Read the snapshot from whichever of `CircuitBreakerRegistry` and
 * `StatusSources` are present.
 *
 * @since 0.1.0
 * @category constructors
 */
export const snapshot: Effect.Effect<Snapshot> = Effect.gen(function*() {
  const registry = yield* Effect.serviceOption(CircuitBreakerRegistry)
  const sources = yield* Effect.serviceOption(StatusSources)
  return yield* makeSnapshot(
    registry._tag === "Some" ? registry.value : undefined,
    sources._tag === "Some" ? sources.value : undefined
  )
})

const makeSnapshot = (
  registry: CircuitBreakerRegistry["Type"] | undefined,
  sources: StatusSourcesModule.Service | undefined
): Effect.Effect<Snapshot> =>
  Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const breakers = new Map<string, BreakerStatus>()
    for (const s of registry === undefined ? [] : yield* registry.snapshot) breakers.set(s.name, fromBreaker(s))
    for (const s of sources === undefined ? [] : yield* sources.breakers) breakers.set(s.name, fromBreaker(s))
    const bulkheads = sources === undefined ? [] : (yield* sources.bulkheads).map((b) => ({
      name: b.name,
      active: b.active,
      available: b.available,
      waiting: b.waiting,
      maxConcurrent: b.maxConcurrent,
      maxWaiting: b.maxWaiting,
      rejected: { full: b.rejected.full, timeout: b.rejected.timeout }
    }))
    const limiters = sources === undefined ? [] : (yield* sources.limiters).map((l) => ({
      name: l.name,
      limit: l.limit,
      windowSeconds: l.windowSeconds,
      keys: l.keys,
      globalRemaining: l.globalRemaining ?? null,
      globalLimit: l.globalLimit ?? null,
      allowed: l.allowed,
      rejected: l.rejected
    }))
    return new Snapshot({ at, breakers: [...breakers.values()], bulkheads, limiters }, { disableValidation: true })
  })

/**
 * The handlers of `Group` for an API that includes it. Reads
 * `CircuitBreakerRegistry` and `StatusSources` if they are provided to this
 * layer (both optional).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups, E, R>
): Layer.Layer<HttpApiGroup.ApiGroup<ApiId, "resilienceStatus">> =>
  HttpApiBuilder.group(
    api as unknown as HttpApi.HttpApi<ApiId, typeof Group, never, never>,
    "resilienceStatus",
    (handlers) =>
      Effect.gen(function*() {
        const registry = yield* Effect.serviceOption(CircuitBreakerRegistry)
        const sources = yield* Effect.serviceOption(StatusSources)
        const read = makeSnapshot(
          registry._tag === "Some" ? registry.value : undefined,
          sources._tag === "Some" ? sources.value : undefined
        )
        return handlers.handle("status", () => read)
      })
  ) as any
