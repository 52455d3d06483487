/**
 * A fleet-wide circuit breaker: the instances of a fleet (gateways behind a
 * load balancer) open, probe and close one breaker together, through a
 * `CircuitBreakerStore` (in memory for one process, Redis for a fleet).
 *
 * Reach for it when many instances call the same dependency: without it each
 * instance discovers an outage on its own (20 instances, 20× the failed
 * calls) and probes the recovering dependency on its own (20× the probes).
 * `make` returns an ordinary `CircuitBreaker.CircuitBreaker`, so
 * `withCircuitBreaker`, `Policy.stack`, `withResilience` and the registry
 * (`CircuitBreakerRegistry.layerShared`) take it unchanged.
 *
 * ```ts
 * import { CircuitBreakerStore, SharedCircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* SharedCircuitBreaker.make({ service: "gateway", resource: "broker", quorum: { instances: 2 } })
 *   return yield* breaker.execute(Effect.succeed("filled"))
 * }).pipe(Effect.scoped, Effect.provide(CircuitBreakerStore.layerMemory()))
 * ```
 *
 * ## Semantics
 *
 * - **Local + shared.** Every instance keeps its own local breaker (the
 *   in-process `CircuitBreaker`, same options) and the fleet's state, a
 *   `CircuitBreakerMachine.State` in the store under the breaker's name. A
 *   call runs only when both admit it. One failing instance opens its local
 *   breaker; the fleet opens when the fleet-wide rule and the quorum hold.
 *   The local breaker is also what decides while the store is away: there is
 *   no second decision path.
 * - **One transition function.** The fleet's state changes only by
 *   `CircuitBreakerMachine.transition`, run here on the entry last seen and
 *   written back with `compareAndSet` (on a conflict the reply carries the
 *   current entry, and the decision is made again on it, at most 5 times).
 * - **Quorum.** The fleet trips only when failures in the window came from
 *   at least `quorum.instances` distinct instances (default 2): one instance
 *   with a broken network of its own opens only its local breaker and cannot
 *   poison the fleet. In a fleet of one the fleet never trips with the
 *   default: the local breaker still protects that instance (use
 *   `instances: 1` to let any single instance trip the fleet).
 * - **Hot path stays local.** While the fleet is Closed a call costs the
 *   local breaker's path plus one push into a bounded buffer; outcomes are
 *   sent in batches (`report.maxBatch` or every `report.interval`), replayed
 *   through `transition` on the shared state in one `compareAndSet`. A batch
 *   that leaves the shared state as it was is not written.
 * - **Opening together.** The write that trips the fleet is pushed by the
 *   store (`changes`) to every instance, which rejects calls from then on
 *   without a store call: no poll per call.
 * - **Probing together.** Once the fleet's Open period is over (on the
 *   store's clock: each instance keeps the offset between the store's clock
 *   and its own from every reply) or while it is HalfOpen, a call needs a
 *   probe slot from the fleet: one `compareAndSet` of an `Admit` event. An
 *   instance has at most one such request in flight; callers arriving
 *   meanwhile are rejected at once with `CircuitOpenError` (state
 *   `HalfOpen`). So exactly `halfOpenMaxProbes` probes run fleet-wide. A
 *   probe's outcome is written at once, and its success closes the fleet for
 *   everyone (pushed). A probe whose instance dies (or whose caller is
 *   interrupted at the moment its slot is granted) holds its slot until
 *   `probeLease` has passed; the next caller then takes the slot over.
 * - **Store down or slow.** A store call that fails or takes longer than
 *   `storeTimeout` switches the instance to its local breaker alone
 *   (`snapshot.fleet.mode` `"local-fallback"`): one warning is logged,
 *   `resilience_circuit_breaker_store_errors_total` counts each failed call
 *   and the gauge `resilience_circuit_breaker_shared` goes to 0. Outcomes keep
 *   being buffered (at most `report.maxBuffer`, the oldest dropped first). A
 *   background fiber resubscribes with backoff (100 ms doubling to 5 s); when
 *   the store answers it re-reads the entry, logs one info line, sets the
 *   gauge to 1 and flushes the buffer. No call waits longer than
 *   `storeTimeout` on the store.
 * - **Manual commands** (`isolate`, `reset`, `disable`) act on the local
 *   breaker and on the fleet (written through the store: every instance
 *   follows).
 * - **Observability.** Fleet transitions count in
 *   `resilience_circuit_breaker_transitions_total` and the state gauge with
 *   the extra label `scope="fleet"`, rejections decided by the fleet in
 *   `resilience_circuit_breaker_rejections_total` with `scope="fleet"`;
 *   `events` carries the local breaker's changes and the fleet's
 *   (`fleet: true`), and each fleet change is logged once per instance.
 *   A fleet rejection records `resilience.circuit_breaker.rejected` on the
 *   current span. `snapshot.fleet` shows the mode, the fleet's state, the
 *   failing instances and the entry's version.
 * - **Times.** The shared state's times (`openedAt`, `until`, failure
 *   reports) are on the store's clock; a batch's events are replayed at the
 *   store time estimated from the last reply.
 *
 * `state`, `snapshot.state` and `awaitState` report what a call would meet:
 * the local breaker's state, unless the fleet's is stricter.
 *
 * @since 0.3.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import type { CircuitBreakerStore } from "./CircuitBreakerStore.js"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/sharedCircuitBreaker.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

/**
 * The fleet's options, on top of the breaker's own (see the module's
 * semantics).
 *
 * @since 0.3.0
 * @category models
 */
export interface FleetOptions {
  /**
   * This instance's id in the fleet's failure reports (1-256 printable
   * characters): a host name, a pod name.
   *
   * @default a random id per breaker (`crypto.randomUUID()`)
   */
  readonly instanceId?: string | undefined
  /**
   * The fleet trips only when failures from at least `instances` distinct
   * instances (1-1000) are in the fleet's window, each instance's last one
   * no older than `window`.
   *
   * @default { instances: 2, window: the breaker's time window, or 60 seconds }
   */
  readonly quorum?: {
    readonly instances?: number | undefined
    readonly window?: Duration.DurationInput | undefined
  } | undefined
  /**
   * Batching of the outcomes of calls made while the fleet is Closed: a batch
   * goes when `maxBatch` (1-10,000) outcomes wait or every `interval`; at most
   * `maxBuffer` (1-1,000,000) wait while the store is away (the oldest are
   * dropped first).
   *
   * @default { maxBatch: 100, interval: "100 millis", maxBuffer: 10000 }
   */
  readonly report?: {
    readonly maxBatch?: number | undefined
    readonly interval?: Duration.DurationInput | undefined
    readonly maxBuffer?: number | undefined
  } | undefined
  /**
   * The most any call (or command) waits on the store; past it the store
   * counts as away.
   *
   * @default "250 millis"
   */
  readonly storeTimeout?: Duration.DurationInput | undefined
  /**
   * The shared entry's time to live, renewed by every write: an abandoned
   * breaker disappears, and a breaker nobody wrote for this long starts again
   * from Closed. Must be longer than `maxResetTimeout` (an Open entry must
   * outlive its Open period).
   *
   * @default twice the largest of maxResetTimeout, the time window and 60 seconds
   */
  readonly ttl?: Duration.DurationInput | undefined
  /**
   * A fleet whose every probe slot has been held this long takes one back
   * for the next caller (the probes' instances died or hang), instead of
   * staying HalfOpen until the entry expires. A probe still running past it
   * may then run beside one more.
   *
   * @default the larger of resetTimeout and 10 seconds
   */
  readonly probeLease?: Duration.DurationInput | undefined
}

/**
 * Options of `make`: the breaker's (`CircuitBreaker.Options`, which also
 * configure the local breaker) and the fleet's.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends CircuitBreaker.Options, FleetOptions {}

/**
 * The data rules of `FleetOptions` (the single source of `make`'s
 * validation of them): `instanceId` 1-256 printable characters, counts
 * within their bounds, durations finite and > 0.
 *
 * @example
 * ```ts
 * import { SharedCircuitBreaker } from "@effect-resilience/core"
 * import { Schema } from "effect"
 *
 * Schema.is(Schema.typeSchema(SharedCircuitBreaker.OptionsSchema))({ quorum: { instances: 0 } }) // false
 * ```
 *
 * @since 0.3.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<
  Schema.Schema.Type<typeof schemas.SharedCircuitBreakerOptions>,
  FleetOptions
> = schemas.SharedCircuitBreakerOptions

/**
 * Make a fleet-wide breaker on the `CircuitBreakerStore` in the context.
 * Its background fibers (the push subscription, the batch sender) run in the
 * scope; what is still buffered when the scope closes is sent once. Waits at
 * most twice `storeTimeout` for the first read of the shared state (on
 * failure it starts on its local breaker alone). Fails with
 * `InvalidOptionsError` naming the first invalid option.
 *
 * @example
 * ```ts
 * import { CircuitBreakerStore, SharedCircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const breaker = yield* SharedCircuitBreaker.make({
 *     service: "gateway",
 *     resource: "broker",
 *     instanceId: "gateway-1",
 *     quorum: { instances: 2 },
 *     report: { maxBatch: 100, interval: "100 millis" },
 *     storeTimeout: "250 millis"
 *   })
 *   return yield* breaker.execute(Effect.succeed("filled"))
 * })).pipe(Effect.provide(CircuitBreakerStore.layerMemory()))
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<CircuitBreaker.CircuitBreaker, InvalidOptionsError, CircuitBreakerStore | Scope.Scope> =
  internal.make
