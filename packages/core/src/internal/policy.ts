/**
 * The `Resilience` service: builds each service/operation's stack once from
 * its profile and caches it, sharing breakers (through the registry),
 * bulkheads (by service/operation) and retry budgets (by service).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Bulkhead from "../Bulkhead.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as CircuitBreakerRegistry from "../CircuitBreakerRegistry.js"
import type * as Policy from "../Policy.js"
import * as ResilienceConfig from "../ResilienceConfig.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { tagOf } from "../ResilienceError.js"
import * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as Timeout from "../Timeout.js"
import * as validate from "./validate.js"

/**
 * The policies' own rejections. Never retried: an open breaker or a full
 * bulkhead means "not now", and retrying at once is the hot loop they exist
 * to prevent. Invalid options never get better by retrying either.
 *
 * @internal
 */
export const ownRejections: ReadonlySet<string> = new Set([
  "CircuitOpenError",
  "BulkheadRejectedError",
  "InvalidOptionsError"
])

/** @internal */
export const isOwnRejection = (error: unknown): boolean => ownRejections.has(tagOf(error))

/** @internal */
export const retryPredicate = (
  retryOn: ReadonlyArray<string> | ((error: unknown) => boolean) | undefined
): (error: unknown) => boolean => {
  if (typeof retryOn === "function") {
    return (error) => !isOwnRejection(error) && retryOn(error)
  }
  if (retryOn !== undefined) {
    const tags = new Set(retryOn)
    return (error) => {
      const tag = tagOf(error)
      return tags.has(tag) && !ownRejections.has(tag)
    }
  }
  return (error) => !isOwnRejection(error)
}

const stackKey = (
  service: string,
  operation: string,
  serviceType: string,
  retryOn: ReadonlyArray<string> | undefined
) => `${service}\u0000${operation}\u0000${serviceType}\u0000${retryOn === undefined ? "*" : retryOn.join("\u0001")}`

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
      const execute: Policy.Policy<Policy.Rejection> = (self) =>
        bulkhead.execute(retry.execute(circuitBreaker.execute(timeout.execute(self))))
      return { service, operation, serviceType, profile, circuitBreaker, bulkhead, retry, timeout, budget, execute }
    })

  const stack = (options: Policy.WithResilienceOptions): Effect.Effect<Policy.Stack, InvalidOptionsError> =>
    Effect.suspend(() => {
      const serviceType = ResilienceConfig.serviceTypeOf(config, options)
      const retryOn = options.retryOn
      let cache: Map<string, Policy.Stack>
      if (typeof retryOn === "function") {
        let byPredicate = stacksByPredicate.get(retryOn)
        if (byPredicate === undefined) {
          byPredicate = new Map()
          stacksByPredicate.set(retryOn, byPredicate)
        }
        cache = byPredicate
      } else {
        cache = stacks
      }
      const key = stackKey(
        options.service,
        options.operation,
        serviceType,
        typeof retryOn === "function" ? undefined : retryOn
      )
      const cached = cache.get(key)
      if (cached !== undefined) return Effect.succeed(cached)
      return Effect.map(build(options, serviceType), (built) => {
        const raced = cache.get(key)
        if (raced !== undefined) return raced
        cache.set(key, built)
        return built
      })
    })

  return {
    config,
    registry,
    stack,
    bulkheads: Effect.sync(() => Array.from(bulkheads.values(), (b) => b.unsafeStats()))
  }
})
