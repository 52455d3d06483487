/**
 * Where the status page finds the bulkheads and rate limiters to report.
 * Core keeps a registry of circuit breakers (`CircuitBreakerRegistry`) but
 * not of bulkheads or limiters, so this package's `LoadShedding` and
 * `RateLimit` layers register theirs here (when the service is present), and
 * you can register your own with `registerBulkhead` / `registerLimiter`.
 *
 * Reach for it when you serve `ResilienceStatus`: provide `StatusSources.layer`
 * once, below every layer that registers into it.
 *
 * @since 0.1.0
 */
import type * as Bulkhead from "@effect-resilience/core/Bulkhead"
import type * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * What a limiter reports on the status page.
 *
 * @since 0.1.0
 * @category models
 */
export interface LimiterStatus {
  readonly name: string
  /** Tokens per `window` a client may spend. */
  readonly limit: number
  readonly windowSeconds: number
  /** Client keys currently tracked (an estimate for a distributed store; `-1` when unknown). */
  readonly keys: number
  /** Tokens left in the global bucket, when there is one. */
  readonly globalRemaining: number | undefined
  readonly globalLimit: number | undefined
  readonly allowed: number
  readonly rejected: number
}

/**
 * The registry: what `make` returns and the `StatusSources` Tag provides.
 * Registrations last as long as the registering scope (a layer's), so a
 * torn-down layer disappears from the status page.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  readonly registerBulkhead: (
    name: string,
    stats: Effect.Effect<Bulkhead.Stats>
  ) => Effect.Effect<void, never, Scope.Scope>
  readonly registerLimiter: (
    name: string,
    status: Effect.Effect<LimiterStatus>
  ) => Effect.Effect<void, never, Scope.Scope>
  /** For breakers not in a `CircuitBreakerRegistry` (e.g. `ResilientHttpClient`'s per-host breakers). */
  readonly registerBreaker: (breaker: CircuitBreaker.CircuitBreaker) => Effect.Effect<void, never, Scope.Scope>
  readonly bulkheads: Effect.Effect<ReadonlyArray<Bulkhead.Stats>>
  readonly breakers: Effect.Effect<ReadonlyArray<CircuitBreaker.Snapshot>>
  readonly limiters: Effect.Effect<ReadonlyArray<LimiterStatus>>
}

/**
 * The registry of this environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class StatusSources extends Context.Tag("@effect-resilience/http/StatusSources")<StatusSources, Service>() {}

/**
 * A fresh, empty registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  const bulkheads = new Map<string, Effect.Effect<Bulkhead.Stats>>()
  const limiters = new Map<string, Effect.Effect<LimiterStatus>>()
  const breakers = new Map<string, Effect.Effect<CircuitBreaker.Snapshot>>()
  const register = <A>(map: Map<string, Effect.Effect<A>>) => (name: string, read: Effect.Effect<A>) =>
    Effect.acquireRelease(
      Effect.sync(() => map.set(name, read)),
      () => Effect.sync(() => map.get(name) === read && map.delete(name))
    ).pipe(Effect.asVoid)
  return StatusSources.of({
    registerBulkhead: register(bulkheads),
    registerLimiter: register(limiters),
    registerBreaker: (breaker) => register(breakers)(breaker.name, breaker.snapshot),
    bulkheads: Effect.suspend(() => Effect.all([...bulkheads.values()])),
    breakers: Effect.suspend(() => Effect.all([...breakers.values()])),
    limiters: Effect.suspend(() => Effect.all([...limiters.values()]))
  })
})

/**
 * The registry as a Layer. One shared value: provide it once.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<StatusSources> = Layer.effect(StatusSources, make)

/**
 * Register a bulkhead's stats, if a `StatusSources` service is present (a
 * no-op otherwise), until the scope closes.
 *
 * @since 0.1.0
 * @category registration
 */
export const registerBulkhead = (bulkhead: Bulkhead.Bulkhead): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.serviceOption(StatusSources),
    (sources) => sources._tag === "Some" ? sources.value.registerBulkhead(bulkhead.name, bulkhead.stats) : Effect.void
  )

/**
 * Register a limiter's status, if a `StatusSources` service is present (a
 * no-op otherwise), until the scope closes.
 *
 * @since 0.1.0
 * @category registration
 */
export const registerLimiter = (
  name: string,
  status: Effect.Effect<LimiterStatus>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.serviceOption(StatusSources),
    (sources) => sources._tag === "Some" ? sources.value.registerLimiter(name, status) : Effect.void
  )
