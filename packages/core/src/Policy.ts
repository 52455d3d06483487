/**
 * Composing policies, and `withResilience`: breaker, retry, bulkhead and
 * timeout for a named service and operation, built from its configured
 * profile.
 *
 * Reach for `withResilience` to protect a call the way the configuration says
 * (the seeds' `@with_resilience(service_name, operation_name, service_type)`);
 * for `compose` / `stack` when you build the policies yourself.
 *
 * ```ts
 * import { Policy } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const placeOrder = (order: Order) =>
 *   broker.placeOrder(order).pipe(
 *     Policy.withResilience({ service: "trading_gateway", operation: "place_order", serviceType: "order_execution" })
 *   )
 *
 * placeOrder(order).pipe(Effect.provide(Policy.layerDefault))
 * ```
 *
 * ## Composition order: `Bulkhead(Retry(CircuitBreaker(Timeout(call))))`
 *
 * Outermost first. `withResilience` and `stack` always use this order.
 * `stack` also places a `Hedge` outermost (each hedged attempt is a whole
 * call through the stack: its own permit, breaker check and timeout) and a
 * `FaultInjection` innermost (injected faults meet the timeout, the breaker
 * and the retries as real ones would); a `Fallback` stands outside, piped
 * after the stack, so the breaker and the retries see every failure.
 *
 * - **Bulkhead outermost.** A call holds one permit from its first attempt
 *   to its last, backoff sleeps included, so `maxConcurrent` bounds all the
 *   work the operation has in flight, retries included: a retry storm cannot
 *   exceed it, and a full bulkhead rejects (`BulkheadRejectedError`, "full")
 *   before anything else runs. Its rejections never reach the breaker, so our
 *   own load shedding cannot open it.
 * - **Retry outside the breaker.** Every attempt passes through the breaker:
 *   each failed attempt counts toward its threshold (5 failures means 5
 *   failed requests to the broker), and once it opens, the next attempt of a
 *   call that is still retrying is rejected with `CircuitOpenError` without
 *   sending anything. Retry never retries `CircuitOpenError` or
 *   `BulkheadRejectedError` (nor `InvalidOptionsError`): the call fails at
 *   once with the rejection and its `retryAfter`, instead of spinning or
 *   sleeping on a permit while the dependency is known to be down.
 * - **Timeout innermost, per attempt.** Each attempt gets the profile's full
 *   timeout; a hung attempt is interrupted and fails with `TimeoutError`,
 *   which the breaker counts as a failure (a broker that hangs trips the
 *   breaker like one that errors) and which retry retries only when the
 *   profile's `retryOn` allows it (never for `order_execution`: after a
 *   timeout the order may have been sent).
 *
 * Compared with resilience4j's `Retry(CircuitBreaker(RateLimiter(TimeLimiter(
 * Bulkhead(fn)))))`, retry, breaker and timeout keep the same relative order;
 * the bulkhead moves from innermost to outermost. Innermost, it bounds
 * concurrent requests but lets any number of callers sit in retry loops, and
 * its rejections would count as the dependency's failures. The price of
 * outermost: a permit is held during backoff sleeps, so a degraded dependency
 * admits fewer new calls — the load shedding a broker needs. Worst-case
 * latency of one call: its bulkhead wait (`acquireTimeout`), plus
 * `(maxRetries + 1) × timeout`, plus the backoff delays (each ≤ `maxDelay`).
 *
 * ## Sharing and caching
 *
 * The same service and operation always get the same breaker (from the
 * `CircuitBreakerRegistry`, named `service/operation`) and the same bulkhead
 * (named `service/operation`); a service's retries share one `RetryBudget`.
 * Breakers and bulkheads are created from the profile of the first call that
 * needs them. A stack is built once per service, operation, service type and
 * `retryOn` (a predicate is cached by identity: hoist it) and reused: the
 * per-call path is a Map lookup (or, for a hoisted `withResilience(...)`
 * value, a pointer comparison) and the four policies' own work.
 *
 * ## Cost
 *
 * When all four parts are this library's own (always, for `withResilience`;
 * for `stack` when given all four), they run fused: one step of the
 * caller's fiber checks the breaker, takes the permit, counts the call in
 * the retry budget and starts the inner effect in the timeout's fiber
 * (`Runtime.runFork` on the caller's runtime); an inner that succeeds without
 * suspending has its outcome recorded and its permit returned in that same
 * step (no mask, no timer, no retry frame). A failure or a suspended inner
 * goes on under an interruption mask that returns the permit whatever the
 * exit; a busy bulkhead or a breaker that is not Closed (or that times calls:
 * a time window or a slow-call rule) takes the composed path, with the same
 * semantics. Figures, against cockatiel's `wrap` of the same four: BENCHMARKS.md.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Bulkhead from "./Bulkhead.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import * as CircuitBreakerRegistry from "./CircuitBreakerRegistry.js"
import type * as FaultInjection from "./FaultInjection.js"
import type * as Hedge from "./Hedge.js"
import * as internal from "./internal/policy.js"
import * as telemetry from "./internal/telemetry.js"
import * as ResilienceConfig from "./ResilienceConfig.js"
import type { BulkheadRejectedError, CircuitOpenError, InvalidOptionsError, TimeoutError } from "./ResilienceError.js"
import type * as Retry from "./Retry.js"
import type * as RetryBudget from "./RetryBudget.js"
import type * as Timeout from "./Timeout.js"

export {
  /**
   * A call was rejected by a bulkhead ("full" or "timeout").
   *
   * @since 0.1.0
   * @category errors
   */
  BulkheadRejectedError,
  /**
   * A call was rejected because its circuit breaker is open.
   *
   * @since 0.1.0
   * @category errors
   */
  CircuitOpenError,
  /**
   * `withResilience` was given an invalid service, operation or service type.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError,
  /**
   * An attempt took longer than the profile's timeout.
   *
   * @since 0.1.0
   * @category errors
   */
  TimeoutError
} from "./ResilienceError.js"

/**
 * The shape every policy shares: wraps an effect, may add errors `E2` and
 * requirements `R2`. A policy instance's `execute` is one.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy<E2 = never, R2 = never> = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2, R | R2>

// A generic policy passed where this non-generic signature is expected is
// instantiated with never, which lets TypeScript read off its E2 and R2
// (inference between two generic signatures gives unknown).
type Probe<E, R> = (self: Effect.Effect<never, never, never>) => Effect.Effect<never, E, R>

/**
 * The policy that changes nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const identity: Policy = (self) => self

/**
 * Composes policies, the first outermost: `compose(a, b, c)(self)` is
 * `a(b(c(self)))`. Use `stack` to get the documented order without thinking
 * about it.
 *
 * @example
 * ```ts
 * import { Bulkhead, CircuitBreaker, Policy, Retry, Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const callBroker = Effect.succeed("filled")
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "broker", maxConcurrent: 10 })
 *   const retry = yield* Retry.exponential({ maxRetries: 3 })
 *   const breaker = yield* CircuitBreaker.make({ service: "broker", resource: "orders" })
 *   const timeout = yield* Timeout.make({ duration: "5 seconds" })
 *   const policy = Policy.compose(bulkhead.execute, retry.execute, breaker.execute, timeout.execute)
 *   return yield* callBroker.pipe(policy)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const compose: {
  (): Policy
  <E1, R1>(p1: Probe<E1, R1>): Policy<E1, R1>
  <E1, R1, E2, R2>(p1: Probe<E1, R1>, p2: Probe<E2, R2>): Policy<E1 | E2, R1 | R2>
  <E1, R1, E2, R2, E3, R3>(p1: Probe<E1, R1>, p2: Probe<E2, R2>, p3: Probe<E3, R3>): Policy<E1 | E2 | E3, R1 | R2 | R3>
  <E1, R1, E2, R2, E3, R3, E4, R4>(
    p1: Probe<E1, R1>,
    p2: Probe<E2, R2>,
    p3: Probe<E3, R3>,
    p4: Probe<E4, R4>
  ): Policy<E1 | E2 | E3 | E4, R1 | R2 | R3 | R4>
  <E1, R1, E2, R2, E3, R3, E4, R4, E5, R5>(
    p1: Probe<E1, R1>,
    p2: Probe<E2, R2>,
    p3: Probe<E3, R3>,
    p4: Probe<E4, R4>,
    p5: Probe<E5, R5>
  ): Policy<E1 | E2 | E3 | E4 | E5, R1 | R2 | R3 | R4 | R5>
  <E1, R1, E2, R2, E3, R3, E4, R4, E5, R5, E6, R6>(
    p1: Probe<E1, R1>,
    p2: Probe<E2, R2>,
    p3: Probe<E3, R3>,
    p4: Probe<E4, R4>,
    p5: Probe<E5, R5>,
    p6: Probe<E6, R6>
  ): Policy<E1 | E2 | E3 | E4 | E5 | E6, R1 | R2 | R3 | R4 | R5 | R6>
} = ((...policies: ReadonlyArray<Policy<unknown, unknown>>): Policy<unknown, unknown> => {
  switch (policies.length) {
    case 0:
      return identity
    case 1:
      return policies[0]!
    case 2: {
      const [p1, p2] = policies as [Policy<unknown, unknown>, Policy<unknown, unknown>]
      return (self) => p1(p2(self))
    }
    default:
      return (self) => {
        let wrapped: Effect.Effect<any, any, any> = self
        for (let i = policies.length - 1; i >= 0; i--) wrapped = policies[i]!(wrapped)
        return wrapped
      }
  }
}) as any

/**
 * The policy instances `stack` arranges; any may be left out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parts {
  /**
   * Outermost: each hedged attempt is a whole call through the rest of the
   * stack (its own permit, its own pass through the breaker, its own
   * timeout). See `Hedge` for why.
   */
  readonly hedge?: Hedge.Hedge | undefined
  readonly bulkhead?: Bulkhead.Bulkhead | undefined
  readonly retry?: Retry.Retry | undefined
  readonly circuitBreaker?: CircuitBreaker.CircuitBreaker | undefined
  readonly timeout?: Timeout.Timeout | undefined
  /**
   * Innermost, around the call itself (inside the timeout): injected latency
   * meets the timeout, injected failures count toward the breaker and are
   * retried, as real ones would. Combine shapes with `compose` first.
   */
  readonly faultInjection?: FaultInjection.FaultInjection<any, never> | undefined
}

/**
 * The errors a `stack` of these parts adds.
 *
 * @since 0.1.0
 * @category models
 */
export type PartsError<P extends Parts> =
  | (P["bulkhead"] extends Bulkhead.Bulkhead ? BulkheadRejectedError : never)
  | (P["circuitBreaker"] extends CircuitBreaker.CircuitBreaker ? CircuitOpenError : never)
  | (P["timeout"] extends Timeout.Timeout ? TimeoutError : never)
  | (P["faultInjection"] extends FaultInjection.FaultInjection<infer E, never> ? E : never)

/**
 * Arranges policy instances in the documented order,
 * `hedge(bulkhead(retry(circuitBreaker(timeout(faultInjection(self))))))`,
 * whatever order they are given in.
 *
 * @example
 * ```ts
 * import { Bulkhead, CircuitBreaker, Policy, Retry, Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "broker", maxConcurrent: 10 })
 *   const retry = yield* Retry.exponential({ maxRetries: 3 })
 *   const circuitBreaker = yield* CircuitBreaker.make({ service: "broker", resource: "orders" })
 *   const timeout = yield* Timeout.make({ duration: "5 seconds" })
 *   const policy = Policy.stack({ circuitBreaker, retry, timeout, bulkhead })
 *   return yield* Effect.succeed("filled").pipe(policy)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const stack = <const P extends Parts>(parts: P): Policy<PartsError<P>> => {
  const { bulkhead, circuitBreaker, faultInjection, hedge, retry, timeout } = parts
  if (bulkhead !== undefined && retry !== undefined && circuitBreaker !== undefined && timeout !== undefined) {
    const fused = internal.fuse({ bulkhead, retry, circuitBreaker, timeout })
    if (fused !== undefined) {
      const execute = fused.execute as Policy<any>
      const inner: Policy<any> = faultInjection === undefined
        ? execute
        : (self) => execute(faultInjection.execute(self))
      return hedge === undefined ? inner : (self) => hedge.execute(inner(self))
    }
  }
  const layers: Array<Policy<any>> = []
  if (hedge !== undefined) layers.push(hedge.execute)
  if (parts.bulkhead !== undefined) layers.push(parts.bulkhead.execute)
  if (parts.retry !== undefined) layers.push(parts.retry.execute)
  if (parts.circuitBreaker !== undefined) layers.push(parts.circuitBreaker.execute)
  if (parts.timeout !== undefined) layers.push(parts.timeout.execute)
  if (faultInjection !== undefined) layers.push(faultInjection.execute)
  return (compose as (...policies: ReadonlyArray<Policy<any>>) => Policy<any>)(...layers)
}

/**
 * The rejections `withResilience` adds to a call's errors.
 *
 * @since 0.1.0
 * @category models
 */
export type Rejection = CircuitOpenError | BulkheadRejectedError | TimeoutError

/**
 * Is this one of the policies' own rejections (`CircuitOpenError`,
 * `BulkheadRejectedError`, `InvalidOptionsError`), which the stack never
 * retries?
 *
 * @since 0.1.0
 * @category guards
 */
export const isOwnRejection: (error: unknown) => boolean = internal.isOwnRejection

/**
 * @since 0.1.0
 * @category models
 */
export interface WithResilienceOptions {
  /** the calling service (the seeds' `service_name`); names the breaker and the retry budget */
  readonly service: string
  /** the operation (the seeds' `operation_name`); with `service`, names the breaker and the bulkhead */
  readonly operation: string
  /**
   * Which profile applies.
   *
   * @default the service's `serviceType` in `ResilienceConfig.services`, else `defaultServiceType`
   */
  readonly serviceType?: string | undefined
  /**
   * Which errors are retried: a list of `_tag`s and error classes (the
   * seeds' `exceptions`; a class matches its subclasses, by `instanceof`) or
   * a predicate. The policies' own rejections are never retried, listed or
   * not. A predicate keys the stack cache by identity: hoist it.
   *
   * @default the profile's `retry.retryOn`, else every error
   */
  readonly retryOn?: Retry.RetryOn | undefined
  /**
   * Which errors count as breaker failures (a 404 or a validation error must
   * not trip it). Applies when the breaker of this service/operation is
   * created; later calls share that breaker.
   *
   * @default every error counts
   */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /**
   * Open one span per call, `resilience <service>/<operation>`, with the
   * attributes `resilience.policy`, `resilience.service`,
   * `resilience.operation` and, at its end, `resilience.outcome` (success,
   * failure, rejected, timeout) and `error.type` (see `Observability`); the
   * policies' span events (retries, rejections, timeouts) land on it. Off by
   * default, because a span costs more than the four policies together:
   * measured with `pnpm bench:quick --only=1` (2-core machine, shared), the
   * stack adds ~3 µs per call, the span another ~20 µs with no tracer
   * installed (Effect's own span) and ~45 µs with the OpenTelemetry SDK's
   * tracer (BENCHMARKS.md, section 1, "+ span" rows). Turn it on where a tracer is installed and a span per
   * call is worth that; without it the policies' events land on the
   * caller's span, at no cost on the success path.
   *
   * @default false
   */
  readonly span?: boolean | undefined
}

/**
 * The policies protecting one service/operation, and their composition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stack {
  readonly service: string
  readonly operation: string
  readonly serviceType: string
  readonly profile: ResilienceConfig.ServiceProfile
  readonly circuitBreaker: CircuitBreaker.CircuitBreaker
  readonly bulkhead: Bulkhead.Bulkhead
  readonly retry: Retry.Retry
  readonly timeout: Timeout.Timeout
  readonly budget: RetryBudget.RetryBudget
  /** `bulkhead(retry(circuitBreaker(timeout(self))))` */
  readonly execute: Policy<Rejection>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly config: ResilienceConfig.Settings
  readonly registry: CircuitBreakerRegistry.Service
  /** the stack of a service/operation: built on first use, then cached */
  readonly stack: (options: WithResilienceOptions) => Effect.Effect<Stack, InvalidOptionsError>
  /** live stats of every bulkhead built so far */
  readonly bulkheads: Effect.Effect<ReadonlyArray<Bulkhead.Stats>>
}

/**
 * Holds the configuration, the breaker registry, the named bulkheads and the
 * per-service retry budgets that `withResilience` builds stacks from.
 *
 * @since 0.1.0
 * @category tags
 */
export class Resilience extends Context.Tag("@effect-resilience/core/Policy/Resilience")<Resilience, Service>() {}

/**
 * Builds the service from the `ResilienceConfig` and the
 * `CircuitBreakerRegistry` of the environment.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  never,
  ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry
> = internal.make

/**
 * `Resilience` from the `ResilienceConfig` and `CircuitBreakerRegistry` you
 * provide.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  Resilience,
  never,
  ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry
> = Layer.effect(Resilience, make)

/**
 * `Resilience` with the default configuration (the trading gateway's tables)
 * and a fresh registry; the registry and the configuration are provided too,
 * for status pages.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<
  Resilience | ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry
> = Layer.provideMerge(layer, Layer.merge(ResilienceConfig.layerDefault, CircuitBreakerRegistry.layer))

/**
 * `Resilience` with `input` merged over the default configuration
 * (`ResilienceConfig.layer(input)`) and a fresh registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (
  input: ResilienceConfig.Input
): Layer.Layer<
  Resilience | ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry,
  ResilienceConfig.ResilienceConfigError
> => Layer.provideMerge(layer, Layer.merge(ResilienceConfig.layer(input), CircuitBreakerRegistry.layer))

/**
 * `Resilience` with the configuration read from the environment
 * (`ResilienceConfig.layerConfig`) and a fresh registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  Resilience | ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry,
  ResilienceConfig.ResilienceConfigError
> = Layer.provideMerge(layer, Layer.merge(ResilienceConfig.layerConfig, CircuitBreakerRegistry.layer))

/**
 * The stack of a service/operation, resolved now: to fail at startup on a
 * bad service type rather than on the first call, or to inspect the breaker
 * and bulkhead `withResilience` will use.
 *
 * @since 0.1.0
 * @category accessors
 */
export const resolve = (options: WithResilienceOptions): Effect.Effect<Stack, InvalidOptionsError, Resilience> =>
  Effect.flatMap(Resilience, (service) => service.stack(options))

const policyFor = (options: WithResilienceOptions): Policy<Rejection | InvalidOptionsError, Resilience> => {
  // resolved once per Resilience instance, then a pointer comparison per call; the service is read from the
  // fiber's context directly (one step, where `Effect.flatMap(Resilience, ...)` takes three)
  let owner: Service | undefined
  let execute: Policy<Rejection> | undefined
  let fused: internal.Fused | undefined
  return (self) =>
    Effect.withFiberRuntime((fiber, status) => {
      const service = Context.unsafeGet(fiber.currentContext, Resilience)
      if (service === owner) return fused !== undefined ? fused.run(fiber, status.runtimeFlags, self) : execute!(self)
      return Effect.flatMap(service.stack(options), (resolved) => {
        owner = service
        execute = resolved.execute
        fused = internal.fusedStacks.get(resolved)
        return resolved.execute(self)
      })
    })
}

// The data-first form: the stack cache is looked up synchronously (the options are often a fresh literal per
// call, so nothing is kept per options object); building and validating stay in `service.stack`.
const applyResilience = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: WithResilienceOptions
): Effect.Effect<A, E | Rejection | InvalidOptionsError, R | Resilience> =>
  Effect.withFiberRuntime((fiber, status) => {
    const service = Context.unsafeGet(fiber.currentContext, Resilience)
    const cached = internal.cachedStacks.get(service)?.(options)
    if (cached !== undefined) {
      const fused = internal.fusedStacks.get(cached)
      return fused !== undefined ? fused.run(fiber, status.runtimeFlags, self) : cached.execute(self)
    }
    return Effect.flatMap(service.stack(options), (resolved) => resolved.execute(self))
  })

/**
 * Protects a call with the breaker, retry, bulkhead and timeout of its
 * service type's profile, in the documented order (see the module docs).
 * Adds `CircuitOpenError | BulkheadRejectedError | TimeoutError`, and
 * `InvalidOptionsError` if the service type is not configured or a name is
 * invalid (use `resolve` at startup to rule that out early).
 *
 * @example
 * ```ts
 * import { Policy } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const fetchQuote = (symbol: string) => Effect.succeed({ symbol, price: 189.5 })
 *
 * const quote = fetchQuote("AAPL").pipe(
 *   Policy.withResilience({ service: "trading_gateway", operation: "get_quote", serviceType: "market_data" }),
 *   Effect.provide(Policy.layerDefault)
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withResilience: {
  (options: WithResilienceOptions): Policy<Rejection | InvalidOptionsError, Resilience>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options: WithResilienceOptions
  ): Effect.Effect<A, E | Rejection | InvalidOptionsError, R | Resilience>
} = ((...args: [WithResilienceOptions] | [Effect.Effect<any, any, any>, WithResilienceOptions]) => {
  if (args.length === 1) {
    const options = args[0]
    const policy = policyFor(options)
    return options.span === true ? (self: Effect.Effect<any, any, any>) => spanned(policy(self), options) : policy
  }
  const applied = applyResilience(args[0], args[1])
  return args[1].span === true ? spanned(applied, args[1]) : applied
}) as any

const spanned = <A, E, R>(self: Effect.Effect<A, E, R>, options: WithResilienceOptions) =>
  telemetry.withCallSpan(self, options.service, options.operation)
