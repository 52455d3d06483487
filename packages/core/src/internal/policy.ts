/**
 * The `Resilience` service: builds each service/operation's stack once from
 * its profile and caches it, sharing breakers (through the registry),
 * bulkheads (by service/operation) and retry budgets (by service).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Bulkhead from "../Bulkhead.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as CircuitBreakerRegistry from "../CircuitBreakerRegistry.js"
import type * as Policy from "../Policy.js"
import * as ResilienceConfig from "../ResilienceConfig.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as Timeout from "../Timeout.js"
import { BulkheadImpl } from "./bulkhead.js"
import * as circuitBreakerInternal from "./circuitBreaker.js"
import * as retryInternal from "./retry.js"
import * as timeoutInternal from "./timeout.js"
import * as validate from "./validate.js"

/**
 * The policies' own rejections (`CircuitOpenError`, `BulkheadRejectedError`,
 * `InvalidOptionsError`): what `Retry.defaultRetryOn` refuses, one list for
 * both. Never retried: an open breaker or a full bulkhead means "not now", and
 * retrying at once is the hot loop they exist to prevent.
 *
 * @internal
 */
export const isOwnRejection = (error: unknown): boolean => !Retry.defaultRetryOn(error)

/** @internal */
export const retryPredicate = (retryOn: Retry.RetryOn | undefined): (error: unknown) => boolean => {
  if (retryOn === undefined) return (error) => !isOwnRejection(error)
  const selected = typeof retryOn === "function" ? retryOn : retryInternal.matchAny(retryOn)
  return (error) => !isOwnRejection(error) && selected(error)
}

// ---------------------------------------------------------------------------
// the fused stack
// ---------------------------------------------------------------------------

/**
 * A breaker from `CircuitBreaker.make` (the registry's), whose
 * `unsafeClosedHandlers()` hook gives the Closed state's outcome handlers
 * when a call may skip `execute` (Closed, nothing timed), for the caller to
 * install with `matchCauseEffect` around the call. Any other implementation:
 * the stack is not fused.
 */
const breakerImpl = (breaker: CircuitBreaker.CircuitBreaker): circuitBreakerInternal.Breaker | undefined =>
  breaker instanceof circuitBreakerInternal.Breaker ? breaker : undefined

/** A fused stack: `run` is the stack applied to `self` on `parent`, whose runtime flags are `flags`. */
export interface Fused {
  readonly execute: Policy.Policy<Policy.Rejection>
  readonly run: <A, E, R>(
    parent: Fiber.RuntimeFiber<unknown, unknown>,
    flags: RuntimeFlags.RuntimeFlags,
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Policy.Rejection, R>
}

/**
 * `bulkhead(retry(circuitBreaker(timeout(self))))` as one step when all four
 * parts are this library's own, with the same semantics as the composition
 * (which it falls back to whenever the fast path does not apply).
 *
 * Fast path (a free permit and nobody queued, the breaker Closed and not
 * timing calls, an interruptible caller), all within the caller's one
 * `withFiberRuntime` step: take the permit, count the call in the retry
 * budget, start the inner effect in the timeout's child fiber
 * (`Runtime.runFork` on the caller's runtime), and, when it finished with a
 * success without suspending (no timer needed), record the outcome in the
 * breaker and release the permit right there: no mask, no restore, no retry
 * frame. A failure goes to the retry loop, and a suspended inner is awaited
 * under the caller's interruptibility; in both cases the release is installed
 * inside `Effect.uninterruptibleMask`, so the permit is returned whatever the
 * exit (interruption included).
 *
 * @internal
 */
export const fuse = (parts: {
  readonly bulkhead: Bulkhead.Bulkhead
  readonly retry: Retry.Retry
  readonly circuitBreaker: CircuitBreaker.CircuitBreaker
  readonly timeout: Timeout.Timeout
}): Fused | undefined => {
  const { bulkhead, circuitBreaker, retry, timeout } = parts
  const breaker = breakerImpl(circuitBreaker)
  const retryParts = retryInternal.internals.get(retry.execute)
  const timeoutParts = timeoutInternal.internals.get(timeout)
  if (
    !(bulkhead instanceof BulkheadImpl) || breaker === undefined || retryParts === undefined ||
    timeoutParts === undefined
  ) {
    return undefined
  }
  const { budget, retryLoop } = retryParts
  const { duration, millis, operation } = timeoutParts
  const composed = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | Policy.Rejection, R> =>
    bulkhead.execute(retry.execute(circuitBreaker.execute(timeout.execute(self))))
  // later attempts go through the parts as composed
  const retryAfter = <A, E, R>(self: Effect.Effect<A, E, R>, out: Effect.Effect<A, E, R>) =>
    Effect.catchAll(out, (error) => retryLoop(circuitBreaker.execute(timeout.execute(self)), error))

  const run = <A, E, R>(
    parent: Fiber.RuntimeFiber<unknown, unknown>,
    flags: RuntimeFlags.RuntimeFlags,
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | Policy.Rejection, R> => {
    // An uninterruptible caller (rare) keeps the composition's exact semantics.
    if (!RuntimeFlags.interruption(flags)) return composed(self)
    // undefined: not Closed, or Closed calls are timed
    const handlers = breaker.unsafeClosedHandlers()
    if (handlers === undefined || !bulkhead.tryTake()) return composed(self)
    // From here until `run` returns, everything happens inside one synchronous
    // callback of the caller's fiber: a permit taken and given back within it
    // needs no interruption mask, since the fiber acts on an interrupt only
    // once the callback has returned (measured: the mask was ~400 ns of a
    // ~3 µs stack on a loaded 2-core machine).
    let child: Fiber.RuntimeFiber<A, E>
    try {
      if (budget !== undefined) {
        budget.unsafeRecordCall(Context.get(parent.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis())
      }
      child = timeoutInternal.startChild(parent, flags, self)
    } catch (defect) {
      bulkhead.unsafeRelease(1)
      throw defect
    }
    const exit = child.unsafePoll()
    if (exit !== null && exit._tag === "Success") {
      const out = handlers.onSuccess(exit.value)
      bulkhead.unsafeRelease(1)
      return out
    }
    // A failure (to the retry loop) or a suspended inner (awaited under the
    // caller's interruptibility): the permit is held past this callback, so
    // its release is installed inside a mask. Should the caller be interrupted
    // before the mask begins (only the inner's own code, run just now, could
    // have asked for that), `guard` returns the permit when the caller ends.
    const attempt = exit !== null
      ? handlers.onFailure(exit.cause) as Effect.Effect<A, E, R>
      : Effect.matchCauseEffect(
        timeoutInternal.awaitWithTimer(parent, flags, child, duration, millis, operation),
        handlers
      ) as Effect.Effect<A, E, R>
    let entered = false
    const guard = () => {
      if (entered) return
      entered = true
      bulkhead.unsafeRelease(1)
      if (exit === null) child.unsafeInterruptAsFork(parent.id())
    }
    parent.addObserver(guard)
    return Effect.uninterruptibleMask((restore) => {
      parent.removeObserver(guard)
      entered = true
      return Effect.matchCauseEffect(restore(retryAfter(self, attempt)), bulkhead.releaseOnExit)
    })
  }
  return {
    run,
    execute: (self) => Effect.withFiberRuntime((parent, status) => run(parent, status.runtimeFlags, self))
  }
}

// Error classes in a `retryOn` list are keyed by a number of their own (a
// class is not a string; its identity is what counts).
const classIds = new WeakMap<object, number>()
let nextClassId = 0
const retryOnKey = (retryOn: retryInternal.RetryOnList): string =>
  retryOn.map((item) => {
    if (typeof item === "string") return item
    let id = classIds.get(item)
    if (id === undefined) {
      id = nextClassId++
      classIds.set(item, id)
    }
    return `\u0002${id}`
  }).join("\u0001")

const stackKey = (
  service: string,
  operation: string,
  serviceType: string,
  retryOn: retryInternal.RetryOnList | undefined
) => `${service}\u0000${operation}\u0000${serviceType}\u0000${retryOn === undefined ? "*" : retryOnKey(retryOn)}`

/** The fused form of the stacks `make` builds, for `withResilience` to run them from its own fiber access. @internal */
export const fusedStacks = new WeakMap<Policy.Stack, Fused>()

/** A service's already-built stack for these options, if any (no build, no validation). @internal */
export const cachedStacks = new WeakMap<
  Policy.Service,
  (options: Policy.WithResilienceOptions) => Policy.Stack | undefined
>()

/** @internal */
export const make: Effect.Effect<
  Policy.Service,
  never,
  ResilienceConfig.ResilienceConfig | CircuitBreakerRegistry.CircuitBreakerRegistry
> = Effect.gen(function*() {
  const config = yield* ResilienceConfig.ResilienceConfig
  const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
  const bulkheads = new Map<string, Bulkhead.Bulkhead>()
  const budgets = new Map<string, RetryBudget.RetryBudget>()
  // stacks by key; a stack whose retryOn is a predicate is cached per predicate
  // (a WeakMap, so an inline lambda's entry dies with it)
  const stacks = new Map<string, Policy.Stack>()
  const stacksByPredicate = new WeakMap<(error: unknown) => boolean, Map<string, Policy.Stack>>()

  // get-or-create helpers re-check after building: another fiber may have
  // finished the same build while this one was suspended
  const bulkheadFor = (name: string, settings: ResilienceConfig.BulkheadSettings) =>
    Effect.suspend(() => {
      const existing = bulkheads.get(name)
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.map(
        Bulkhead.make({
          name,
          maxConcurrent: settings.maxConcurrent,
          maxWaiting: settings.maxWaiting,
          acquireTimeout: settings.acquireTimeout
        }),
        (made) => {
          const raced = bulkheads.get(name)
          if (raced !== undefined) return raced
          bulkheads.set(name, made)
          return made
        }
      )
    })

  const budgetFor = (service: string) =>
    Effect.suspend(() => {
      const existing = budgets.get(service)
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.map(RetryBudget.make({}), (made) => {
        const raced = budgets.get(service)
        if (raced !== undefined) return raced
        budgets.set(service, made)
        return made
      })
    })

  const build = (
    options: Policy.WithResilienceOptions,
    serviceType: string
  ): Effect.Effect<Policy.Stack, InvalidOptionsError> =>
    Effect.gen(function*() {
      const service = yield* validate.name("withResilience", "service", options.service)
      const operation = yield* validate.name("withResilience", "operation", options.operation)
      const profile = yield* ResilienceConfig.resolve(config, { service, serviceType })
      const breakerOptions: CircuitBreaker.Options = {
        ...profile.breaker,
        service,
        resource: operation,
        isFailure: options.isFailure
      }
      const circuitBreaker = yield* registry.get(breakerOptions)
      const bulkhead = yield* bulkheadFor(`${service}/${operation}`, profile.bulkhead)
      const budget = yield* budgetFor(service)
      const retry = yield* Retry.exponential({
        maxRetries: profile.retry.maxRetries,
        baseDelay: profile.retry.baseDelay,
        maxDelay: profile.retry.maxDelay,
        factor: profile.retry.factor,
        jitter: profile.retry.jitter,
        retryOn: retryPredicate(options.retryOn ?? profile.retry.retryOn),
        budget,
        service,
        operation
      })
      const timeout = yield* Timeout.make({ duration: profile.timeout, operation: `${service}/${operation}` })
      // bulkhead(retry(breaker(timeout(self)))): see the Policy module docs
      const fused = fuse({ bulkhead, retry, circuitBreaker, timeout })
      const execute: Policy.Policy<Policy.Rejection> = fused?.execute ??
        ((self) => bulkhead.execute(retry.execute(circuitBreaker.execute(timeout.execute(self)))))
      const stack: Policy.Stack = {
        service,
        operation,
        serviceType,
        profile,
        circuitBreaker,
        bulkhead,
        retry,
        timeout,
        budget,
        execute
      }
      if (fused !== undefined) fusedStacks.set(stack, fused)
      return stack
    })

  const cacheOf = (options: Policy.WithResilienceOptions): Map<string, Policy.Stack> => {
    const retryOn = options.retryOn
    if (typeof retryOn !== "function") return stacks
    let byPredicate = stacksByPredicate.get(retryOn)
    if (byPredicate === undefined) {
      byPredicate = new Map()
      stacksByPredicate.set(retryOn, byPredicate)
    }
    return byPredicate
  }

  const keyOf = (options: Policy.WithResilienceOptions, serviceType: string): string => {
    const retryOn = options.retryOn
    return stackKey(
      options.service,
      options.operation,
      serviceType,
      typeof retryOn === "function" ? undefined : retryOn
    )
  }

  const stack = (options: Policy.WithResilienceOptions): Effect.Effect<Policy.Stack, InvalidOptionsError> =>
    Effect.suspend(() => {
      const serviceType = ResilienceConfig.serviceTypeOf(config, options)
      const cache = cacheOf(options)
      const key = keyOf(options, serviceType)
      const cached = cache.get(key)
      if (cached !== undefined) return Effect.succeed(cached)
      return Effect.map(build(options, serviceType), (built) => {
        const raced = cache.get(key)
        if (raced !== undefined) return raced
        cache.set(key, built)
        return built
      })
    })

  const service: Policy.Service = {
    config,
    registry,
    stack,
    bulkheads: Effect.sync(() => Array.from(bulkheads.values(), (b) => b.unsafeStats()))
  }
  // the synchronous cache lookup behind `stack`, for `withResilience(self, options)`
  cachedStacks.set(
    service,
    (options) => cacheOf(options).get(keyOf(options, ResilienceConfig.serviceTypeOf(config, options)))
  )
  return service
})
