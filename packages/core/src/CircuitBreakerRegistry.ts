/**
 * The named circuit breakers of an application: get-or-create a breaker by
 * `service` and `resource`, so every caller of the same dependency shares one
 * breaker; a snapshot of every breaker (for a status page), failure counts per
 * service, and one stream of every breaker's state changes (for alerting).
 *
 * Reach for it instead of `CircuitBreaker.make` whenever breakers are created
 * in more than one place: provide `CircuitBreakerRegistry.layer` once and call
 * `get` where the breaker is needed. `makeScoped({ liveHalfOpen: true })`
 * makes every breaker announce Open → HalfOpen at its reset time even when
 * idle, for alerting on `events`.
 *
 * ```ts
 * import { CircuitBreakerRegistry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
 *   const breaker = yield* registry.get({ service: "trading_gateway", resource: "broker_api", failureThreshold: 5 })
 *   return yield* breaker.execute(callBroker)
 * }).pipe(Effect.provide(CircuitBreakerRegistry.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import { CircuitBreakerStore } from "./CircuitBreakerStore.js"
import * as internal from "./internal/circuitBreaker.js"
import * as shared from "./internal/sharedCircuitBreaker.js"
import type { InvalidOptionsError } from "./ResilienceError.js"
import type * as SharedCircuitBreaker from "./SharedCircuitBreaker.js"

/**
 * The registry: what `make` returns and the `CircuitBreakerRegistry` Tag
 * provides (named `Registry` until 0.2.0).
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * The breaker of `options.service` / `options.resource`, made from
   * `options` on the first call. Later calls return that same instance and
   * ignore their other options (a breaker's configuration is fixed when it is
   * made). Fails with `InvalidOptionsError` only when it has to make the
   * breaker and the options are invalid.
   */
  readonly get: (options: CircuitBreaker.Options) => Effect.Effect<CircuitBreaker.CircuitBreaker, InvalidOptionsError>
  /** Every breaker, in the order they were made. */
  readonly breakers: Effect.Effect<ReadonlyArray<CircuitBreaker.CircuitBreaker>>
  /** A snapshot of every breaker, in the order they were made. */
  readonly snapshot: Effect.Effect<ReadonlyArray<CircuitBreaker.Snapshot>>
  /** Lifetime failures recorded by the breakers of each service (every service with a breaker is present). */
  readonly failureCounts: Effect.Effect<ReadonlyMap<string, number>>
  /** The state changes of every breaker of this registry, in order, from the moment the stream is run. */
  readonly events: Stream.Stream<CircuitBreaker.StateChange>
  /** Subscribe now to the state changes of every breaker of this registry, until the scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<CircuitBreaker.StateChange>, never, Scope.Scope>
}

/**
 * The registry as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreakerRegistry extends Context.Tag("@effect-resilience/core/CircuitBreakerRegistry")<
  CircuitBreakerRegistry,
  Service
>() {}

/**
 * The former name of `Service`.
 *
 * @since 0.1.0
 * @category models
 * @deprecated use `CircuitBreakerRegistry.Service`
 */
export type Registry = Service

/**
 * Make an empty registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.suspend(() => makeWith(undefined, local))

// what the registry needs of a breaker beyond the public interface
type Entry = CircuitBreaker.CircuitBreaker & {
  readonly failureCount: number
  readonly liveHalfOpen: Effect.Effect<never>
}

type Maker = (
  options: CircuitBreaker.Options,
  sink: (change: CircuitBreaker.StateChange) => void
) => Effect.Effect<Entry, InvalidOptionsError>

const local: Maker = internal.makeWith

// `scope`: where each breaker's live half-open fiber runs, when the registry has them
const makeWith = (scope: Scope.Scope | undefined, maker: Maker): Effect.Effect<Service> =>
  Effect.map(PubSub.unbounded<CircuitBreaker.StateChange>(), (pubsub) => {
    // keyed by the pair (names cannot hold control characters, so "\n" cannot collide)
    const byKey = new Map<string, Entry>()
    const sink = (change: CircuitBreaker.StateChange) => {
      pubsub.unsafeOffer(change)
    }
    const get = (options: CircuitBreaker.Options): Effect.Effect<CircuitBreaker.CircuitBreaker, InvalidOptionsError> =>
      Effect.suspend(() => {
        const key = keyOf(options)
        const existing = byKey.get(key)
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.flatMap(maker(options, sink), (made) => {
          // another fiber may have made it while this one was making its own: the first one wins
          const winner = byKey.get(key)
          if (winner !== undefined) return Effect.succeed(winner)
          byKey.set(key, made)
          return scope === undefined ? Effect.succeed(made) : Effect.as(Effect.forkIn(made.liveHalfOpen, scope), made)
        })
      })
    const breakers = Effect.sync((): ReadonlyArray<CircuitBreaker.CircuitBreaker> => Array.from(byKey.values()))
    return CircuitBreakerRegistry.of({
      get,
      breakers,
      snapshot: Effect.suspend(() => Effect.all(Array.from(byKey.values(), (breaker) => breaker.snapshot))),
      failureCounts: Effect.sync(() => {
        const counts = new Map<string, number>()
        for (const breaker of byKey.values()) {
          counts.set(breaker.service, (counts.get(breaker.service) ?? 0) + breaker.failureCount)
        }
        return counts
      }),
      events: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub)
    })
  })

const keyOf = (options: CircuitBreaker.Options): string =>
  typeof options === "object" && options !== null ? `${options.service}\n${options.resource}` : ""

/**
 * Options of `makeScoped`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ScopedOptions {
  /**
   * Every breaker of the registry performs Open → HalfOpen at its reset time
   * with no traffic (see `CircuitBreaker.ScopedOptions`), so alerting on the
   * registry's `events` fires on time; the fibers stop with the scope.
   *
   * @default false
   */
  readonly liveHalfOpen?: boolean | undefined
}

/**
 * Make an empty registry whose live parts run in the current scope.
 *
 * @example
 * ```ts
 * import { CircuitBreakerRegistry } from "@effect-resilience/core"
 * import { Effect, Layer } from "effect"
 *
 * const layer = Layer.scoped(
 *   CircuitBreakerRegistry.CircuitBreakerRegistry,
 *   CircuitBreakerRegistry.makeScoped({ liveHalfOpen: true })
 * )
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeScoped = (options: ScopedOptions = {}): Effect.Effect<Service, never, Scope.Scope> =>
  options.liveHalfOpen === true ? Effect.flatMap(Effect.scope, (scope) => makeWith(scope, local)) : make

/**
 * A layer providing an empty registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<CircuitBreakerRegistry> = Layer.effect(CircuitBreakerRegistry, make)

/**
 * A layer providing an empty registry whose live parts run for the layer's
 * lifetime: with `liveHalfOpen`, every breaker it makes announces Open →
 * HalfOpen at its reset time with no traffic, and the timers stop when the
 * layer is released.
 *
 * @example
 * ```ts
 * import { CircuitBreakerRegistry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
 *   return registry
 * }).pipe(Effect.provide(CircuitBreakerRegistry.layerScoped({ liveHalfOpen: true })))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerScoped = (options: ScopedOptions = {}): Layer.Layer<CircuitBreakerRegistry> =>
  Layer.scoped(CircuitBreakerRegistry, makeScoped(options))

/**
 * Options of `makeShared` and `layerShared`: the registry's
 * (`liveHalfOpen`) and the fleet options every breaker it makes gets
 * (`SharedCircuitBreaker.FleetOptions`; a breaker's own options come from
 * `get`). Without `instanceId`, one random id is drawn for the registry: all
 * its breakers report as the same instance.
 *
 * @since 0.3.0
 * @category models
 */
export interface SharedOptions extends ScopedOptions, SharedCircuitBreaker.FleetOptions {}

/**
 * Make an empty registry whose `get` makes fleet-wide breakers
 * (`SharedCircuitBreaker.make`) on the `CircuitBreakerStore` in the context,
 * each with `options`' fleet options and the options given to `get`. The
 * breakers' background fibers run in the current scope. The fleet options are
 * validated here (`InvalidOptionsError` naming the first bad one); a breaker's
 * own, in `get`.
 *
 * @example
 * ```ts
 * import { CircuitBreakerRegistry, CircuitBreakerStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const registry = yield* CircuitBreakerRegistry.makeShared({ instanceId: "gateway-1" })
 *   const breaker = yield* registry.get({ service: "gateway", resource: "broker" })
 *   return yield* breaker.execute(Effect.succeed("filled"))
 * })).pipe(Effect.provide(CircuitBreakerStore.layerMemory()))
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeShared = (
  options: SharedOptions = {}
): Effect.Effect<Service, InvalidOptionsError, CircuitBreakerStore | Scope.Scope> =>
  Effect.gen(function*() {
    yield* shared.resolveFleet(options, undefined)
    const scope = yield* Effect.scope
    const store = yield* CircuitBreakerStore
    const { liveHalfOpen: _, ...given } = options
    // one instance id for every breaker of this registry (one process, one instance of the fleet)
    const fleet = { ...given, instanceId: given.instanceId ?? shared.randomInstanceId() }
    const maker: Maker = (breakerOptions, sink) =>
      shared.make({ ...breakerOptions, ...fleet }, sink).pipe(
        Effect.provideService(CircuitBreakerStore, store),
        (made) => Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (child) => Scope.extend(made, child))
      )
    return yield* makeWith(options.liveHalfOpen === true ? scope : undefined, maker)
  })

/**
 * A layer providing an empty registry of fleet-wide breakers (see
 * `makeShared`) on the `CircuitBreakerStore` it is given: the gateway's way to
 * make every breaker fleet-wide. The breakers' fibers stop when the layer is
 * released.
 *
 * @example
 * ```ts
 * import { CircuitBreakerRegistry, CircuitBreakerStore } from "@effect-resilience/core"
 * import { Layer } from "effect"
 *
 * const RegistryLive = CircuitBreakerRegistry.layerShared({ quorum: { instances: 2 } }).pipe(
 *   Layer.provide(CircuitBreakerStore.layerMemory())
 * )
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layerShared = (
  options: SharedOptions = {}
): Layer.Layer<CircuitBreakerRegistry, InvalidOptionsError, CircuitBreakerStore> =>
  Layer.scoped(CircuitBreakerRegistry, makeShared(options))
