/**
 * Where a fleet-wide circuit breaker's shared state lives: a versioned
 * register per breaker, written by compare-and-set, whose writes are pushed to
 * every instance.
 *
 * A store knows nothing about breakers: it keeps an opaque string per key
 * (the shared breaker encodes its state, the pure `CircuitBreakerMachine`
 * state plus who reported failures, into it). Every decision is made by the
 * shared breaker running `CircuitBreakerMachine.transition` on the value it
 * last saw and writing the result back only if nobody wrote in between
 * (`compareAndSet`): the transition function exists once, in core, and a
 * store only has to be an atomic register.
 *
 * `CircuitBreakerStore.layerMemory` shares state between the breakers of one
 * process (tests, several instances in one process) on the fiber's `Clock`, so
 * a `TestClock` drives it; `@effect-resilience/redis` keeps it in Redis for a
 * fleet.
 *
 * ## Model (what every store must implement)
 *
 * - Each key holds at most one `Entry`: a `value` and a `version`, which
 *   starts at 1 and grows by one per successful write. An absent key reads
 *   as `Option.none()` and is written with `expectedVersion` 0.
 * - `compareAndSet` writes only when the key's current version equals
 *   `expectedVersion` (0: absent), atomically, and then publishes the new entry
 *   to every `changes` subscriber of that key. Otherwise it writes nothing
 *   and returns the current entry, so that the caller can retry in the same
 *   round trip budget.
 * - Every write sets the key's time to live to `ttl`: an abandoned breaker
 *   disappears, and a breaker whose key expired starts again from its initial
 *   state (Closed).
 * - `now` in every reply is the store's clock (Redis: `TIME`), in epoch
 *   millis: the shared state's times (`openedAt`, `until`) are on that clock,
 *   never on an instance's own.
 * - `changes` pushes writes made by anyone (this instance included) in
 *   version order per key; it may skip versions (a subscriber that fell
 *   behind or reconnected sees the newest), never go back.
 *
 * Keys are chosen by the shared breaker (`service/resource`, any string); a
 * store hashes or prefixes them as it needs (Redis: a hash tag per breaker).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/circuitBreakerStore.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

/**
 * One key's shared value and its version (>= 1).
 *
 * @since 0.3.0
 * @category models
 */
export interface Entry {
  readonly version: number
  readonly value: string
}

/**
 * A read: the key's entry, if any, and the store's clock when it was read.
 *
 * @since 0.3.0
 * @category models
 */
export interface Read {
  readonly entry: Option.Option<Entry>
  readonly now: number
}

/**
 * The outcome of a `compareAndSet`:
 *
 * - `Written`: the value is stored as `version`;
 * - `Conflict`: somebody wrote first; `current` is what is stored now (none:
 *   the key is absent or expired), nothing was written.
 *
 * Both carry the store's clock at the moment of the decision.
 *
 * @since 0.3.0
 * @category models
 */
export type WriteResult =
  | { readonly _tag: "Written"; readonly version: number; readonly now: number }
  | { readonly _tag: "Conflict"; readonly current: Option.Option<Entry>; readonly now: number }

/**
 * The store could not answer (Redis down, a timeout, a reply it cannot read).
 * The shared breaker falls back to its local breaker on this error.
 *
 * @since 0.3.0
 * @category errors
 */
export class CircuitBreakerStoreError extends Schema.TaggedError<CircuitBreakerStoreError>()(
  "CircuitBreakerStoreError",
  {
    operation: Schema.String,
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {}

/**
 * What a shared-state store does (see the module's model).
 *
 * @since 0.3.0
 * @category models
 */
export interface Service {
  /** The key's current entry and the store's clock. */
  readonly read: (key: string) => Effect.Effect<Read, CircuitBreakerStoreError>
  /**
   * Write `value` if the key's version is `expectedVersion` (0: absent), set its
   * time to live to `ttl`, and publish the new entry to `changes`.
   */
  readonly compareAndSet: (
    key: string,
    expectedVersion: number,
    value: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<WriteResult, CircuitBreakerStoreError>
  /**
   * The key's writes, pushed as they happen (never polled), for as long as the
   * scope is open. Subscribed when the returned effect completes: a write made
   * after that is seen. The stream fails when the push channel is lost; the
   * caller re-reads and subscribes again.
   */
  readonly changes: (
    key: string
  ) => Effect.Effect<Stream.Stream<Entry, CircuitBreakerStoreError>, CircuitBreakerStoreError, Scope.Scope>
}

/**
 * The shared-state store of fleet-wide breakers (see `SharedCircuitBreaker`).
 *
 * @since 0.3.0
 * @category tags
 */
export class CircuitBreakerStore extends Context.Tag("@effect-resilience/core/CircuitBreakerStore")<
  CircuitBreakerStore,
  Service
>() {}

/**
 * Options of `makeMemory`.
 *
 * @since 0.3.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * At most this many live keys (one per breaker) and as many watched keys.
   * A write of a new key past the bound, once expired keys are swept, fails
   * with `CircuitBreakerStoreError` (the breaker then runs on its local
   * breaker alone): state is never dropped silently.
   *
   * @default 10000
   */
  readonly maxKeys?: number | undefined
}

/**
 * A store in this process's memory: the breakers of one process (several
 * instances in tests, or one instance that wants the shared breaker's
 * semantics without a server) share state through it. Times and time to live
 * are on the fiber's `Clock` (a `TestClock` drives it); `changes` is a sliding
 * `PubSub` per watched key (a subscriber more than 64 writes behind skips to
 * the newest). Fails with `InvalidOptionsError` when `maxKeys` is not an
 * integer >= 1.
 *
 * @example
 * ```ts
 * import { CircuitBreakerStore } from "@effect-resilience/core"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* CircuitBreakerStore.makeMemory()
 *   const written = yield* store.compareAndSet("broker/orders", 0, "{}", "1 minute")
 *   const read = yield* store.read("broker/orders")
 *   return [written._tag, Option.map(read.entry, (entry) => entry.version)] // ["Written", Some(1)]
 * })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions | undefined) => Effect.Effect<Service, InvalidOptionsError> =
  internal.makeMemory

/**
 * `CircuitBreakerStore` in memory (see `makeMemory`).
 *
 * @example
 * ```ts
 * import { CircuitBreakerStore } from "@effect-resilience/core"
 *
 * const StoreLive = CircuitBreakerStore.layerMemory({ maxKeys: 1000 })
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layerMemory = (
  options?: MemoryOptions | undefined
): Layer.Layer<CircuitBreakerStore, InvalidOptionsError> =>
  Layer.effect(CircuitBreakerStore, internal.makeMemory(options))
