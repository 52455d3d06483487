/** @internal */
import * as AdaptiveBulkhead from "@effect-resilience/core/AdaptiveBulkhead"
import * as AdaptiveRateLimiter from "@effect-resilience/core/AdaptiveRateLimiter"
import * as Bulkhead from "@effect-resilience/core/Bulkhead"
import * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as RateLimiter from "@effect-resilience/core/RateLimiter"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import * as ResilienceConfig from "@effect-resilience/core/ResilienceConfig"
import type { InvalidOptionsError, RateLimitedError, ResilienceError } from "@effect-resilience/core/ResilienceError"
import * as Retry from "@effect-resilience/core/Retry"
import * as RetryBudget from "@effect-resilience/core/RetryBudget"
import * as Timeout from "@effect-resilience/core/Timeout"
import * as StatusSources from "@effect-resilience/http/StatusSources"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { BrokerApi, Service as BrokerService } from "../BrokerClient.js"
import { isOutage, isTransient, ProviderRateLimitedError } from "../ClientError.js"
import * as IdempotentOrders from "../IdempotentOrders.js"
import type { MarketDataApi, Service as MarketDataService } from "../MarketDataClient.js"
import {
  type OperationPolicy,
  override,
  type Overrides,
  type ProviderPolicy,
  retryOf,
  withConfiguredQuota
} from "../ProviderPolicy.js"

type Guard = IdempotentOrders.Guard<ResilienceError>

const identity: Guard = (self) => self

/** @internal */
export interface Operation {
  /** bulkhead (outermost, once per logical call) */
  readonly isolate: Guard
  /** breaker → quota → per-attempt timeout: one attempt */
  readonly attempt: Guard
  readonly retry: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** the whole stack for a call that is safe to repeat */
  readonly call: Guard
}

/**
 * The profile for one operation group: the ResilienceConfig in context (if
 * any) resolves the service's settings; otherwise the provider's defaults.
 * `fallback` is the provider's defaults: the layer's `options.policy` is
 * applied after this (see `configure`), so code wins over configuration.
 */
const fromConfig = (
  fallback: OperationPolicy,
  service: string,
  serviceType: string,
  kind: ProviderPolicy["kind"]
): Effect.Effect<OperationPolicy, InvalidOptionsError> =>
  Effect.flatMap(Effect.serviceOption(ResilienceConfig.ResilienceConfig), (config) => {
    if (Option.isNone(config)) return Effect.succeed(fallback)
    const settings = config.value
    // Only a service the configuration names overrides the provider's table.
    if (settings.services[service] === undefined) return Effect.succeed(fallback)
    return Effect.map(ResilienceConfig.resolve(settings, { service, serviceType }), (profile): OperationPolicy => ({
      breaker: kind === "broker" ? profile.breaker : fallback.breaker,
      retry: retryOf(profile.retry),
      bulkhead: kind === "broker" ? profile.bulkhead : fallback.bulkhead,
      timeout: profile.timeout
    }))
  })

/**
 * The provider's quota under the ResilienceConfig in context: the `rateLimit`
 * of its service type (the one `services.<provider>.serviceType` names, else
 * `serviceType`) with the `rateLimit` of `services.<provider>` over it.
 */
const quotaFromConfig = (
  policy: ProviderPolicy,
  serviceType: string
): Effect.Effect<ProviderPolicy["rateLimit"], InvalidOptionsError> =>
  Effect.flatMap(Effect.serviceOption(ResilienceConfig.ResilienceConfig), (config) => {
    if (Option.isNone(config)) return Effect.succeed(policy.rateLimit)
    const settings = config.value
    const service = policy.provider
    const type = settings.services[service]?.serviceType ?? serviceType
    const configured = ResilienceConfig.resolveRateLimit(settings, { service, serviceType: type })
    const where = settings.services[service]?.rateLimit === undefined
      ? `serviceTypes.${type}.rateLimit`
      : `services.${service}.rateLimit`
    return withConfiguredQuota(policy.rateLimit, configured, where)
  })

/**
 * Precedence: the provider's defaults (`defaults`), then the ResilienceConfig
 * in context, then the layer's `options.policy` (`overrides`).
 */
const configure = (
  defaults: ProviderPolicy,
  overrides: Overrides | undefined
): Effect.Effect<ProviderPolicy, InvalidOptionsError> =>
  Effect.gen(function*() {
    const provider = defaults.provider
    const broker = defaults.kind === "broker"
    const requests = yield* fromConfig(
      defaults.requests,
      provider,
      broker ? "broker_api" : "market_data",
      defaults.kind
    )
    const orders = broker
      ? yield* fromConfig(defaults.orders ?? defaults.requests, `${provider}.orders`, "order_execution", "broker")
      : defaults.orders
    const rateLimit = yield* quotaFromConfig(defaults, broker ? "broker_api" : "market_data")
    return override({ ...defaults, requests, orders, rateLimit }, overrides)
  })

const makeOperation = (
  provider: string,
  group: string,
  spec: OperationPolicy,
  quota: Guard,
  budget: RetryBudget.RetryBudget
): Effect.Effect<Operation, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.serviceOption(CircuitBreakerRegistry.CircuitBreakerRegistry)
    const breakerOptions: CircuitBreaker.Options | undefined = spec.breaker === undefined ? undefined : {
      service: provider,
      resource: group,
      failureThreshold: spec.breaker.failureThreshold,
      resetTimeout: spec.breaker.resetTimeout,
      isFailure: isOutage
    }
    // With a registry in context the breakers show on its status page and are shared by name.
    const breaker = breakerOptions === undefined
      ? undefined
      : Option.isSome(registry)
      ? yield* registry.value.get(breakerOptions)
      : yield* CircuitBreaker.make(breakerOptions)
    const bulkhead: Bulkhead.Bulkhead | undefined = spec.bulkhead === undefined
      ? undefined
      : spec.bulkhead.adaptive === undefined
      ? yield* Bulkhead.make({
        name: `${provider}/${group}`,
        maxConcurrent: spec.bulkhead.maxConcurrent,
        maxWaiting: spec.bulkhead.maxWaiting
      })
      // opt-in: the limit follows the provider's latency, up to maxConcurrent
      : yield* AdaptiveBulkhead.make({
        ...spec.bulkhead.adaptive,
        name: `${provider}/${group}`,
        maxLimit: spec.bulkhead.maxConcurrent,
        maxWaiting: spec.bulkhead.maxWaiting
      })
    // With StatusSources in context the bulkhead shows on /resilience/status (until the layer closes).
    if (bulkhead !== undefined) yield* StatusSources.registerBulkhead(bulkhead)
    const timeout = spec.timeout === undefined
      ? undefined
      : yield* Timeout.make({ duration: spec.timeout, operation: `${provider}/${group}` })
    const retry = yield* Retry.exponential({
      maxRetries: spec.retry.maxRetries,
      baseDelay: spec.retry.baseDelay,
      maxDelay: spec.retry.maxDelay,
      factor: spec.retry.factor,
      jitter: spec.retry.jitter,
      retryOn: isTransient,
      budget,
      service: provider,
      operation: group
    })
    const isolate: Guard = bulkhead === undefined ? identity : bulkhead.execute
    const withTimeout: Guard = timeout === undefined ? identity : timeout.execute
    const withBreaker: Guard = breaker === undefined ? identity : breaker.execute
    // The breaker sits outside the quota so an open breaker spends no token.
    const attempt: Guard = (self) => withBreaker(quota(withTimeout(self)))
    return {
      isolate,
      attempt,
      retry: retry.execute,
      call: (self) => isolate(retry.execute(attempt(self)))
    }
  })

/**
 * The provider's quota as a wait-mode limiter. It uses the environment's
 * `RateLimiterStore` when there is one (a Redis store shares one quota across
 * a fleet), else a private in-memory store; with `StatusSources` in context
 * it shows on the status page.
 */
const makeQuota = (
  policy: ProviderPolicy,
  learned?: (tokensPerSecond: number) => Effect.Effect<AdaptiveRateLimiter.AdaptiveRateLimiter, InvalidOptionsError>
): Effect.Effect<Guard, InvalidOptionsError, Scope.Scope> => {
  const spec = policy.rateLimit
  if (spec === undefined) return Effect.succeed(identity)
  return Effect.gen(function*() {
    const existing = yield* Effect.serviceOption(RateLimiterStore.RateLimiterStore)
    const store = Option.isSome(existing) ? existing.value : yield* RateLimiterStore.makeMemory()
    const name = `clients/${policy.provider}`
    const tokensPerSecond = spec.refill / Duration.toSeconds(spec.interval)
    const limiter = yield* Effect.provideService(
      RateLimiter.make({
        name,
        mode: spec.mode ?? "wait",
        tokensPerSecond,
        burstSize: spec.burst,
        maxWait: spec.maxWait,
        windows: spec.windows
      }),
      RateLimiterStore.RateLimiterStore,
      store
    )
    let allowed = 0
    let rejected = 0
    yield* StatusSources.registerLimiter(
      name,
      Effect.map(Effect.either(limiter.stats), (stats) => ({
        name,
        limit: spec.burst,
        windowSeconds: Math.max(1, Math.ceil(spec.burst / tokensPerSecond)),
        keys: stats._tag === "Right" && Option.isSome(stats.right.keys) ? stats.right.keys.value : -1,
        globalRemaining: undefined,
        globalLimit: undefined,
        allowed,
        rejected
      }))
    )
    // The learned rate (market data) gates first, the documented quota last:
    // the documented bucket admits the request when it is sent, so the
    // provider never sees more than the documented quota, and the learned
    // rate can only hold calls back below it.
    const adaptive = learned === undefined || spec.learn === false ? undefined : yield* learned(tokensPerSecond)
    // A call refused by one of the provider's windows (its daily cap) is the
    // provider's refusal, made without sending it: ProviderRateLimitedError,
    // as the provider would answer (fallbacks key on it). A peek on the
    // rejection path only says which limit refused.
    const windowed = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | ProviderRateLimitedError, R> =>
      spec.windows === undefined || spec.windows.length === 0 ? self : Effect.catchIf(
        self,
        (error) => (error as { readonly _tag?: unknown })?._tag === "RateLimitedError",
        (error) =>
          Effect.flatMap(
            Effect.orElseSucceed(limiter.check(), () => undefined),
            (decision): Effect.Effect<never, E | ProviderRateLimitedError> =>
              decision?.window === undefined || decision.allowed
                ? Effect.fail(error)
                : Effect.fail(
                  new ProviderRateLimitedError({
                    provider: policy.provider,
                    retryAfter: decision.retryAfter,
                    reason: `the provider's quota of ${decision.limit} per ${Duration.format(decision.window)} is spent`
                  })
                )
          )
      )
    // A store failure is handled by the store's own configured behaviour
    // (fail open / closed / local fallback); the memory store never fails.
    return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R> =>
      Effect.suspend(() => {
        let admitted = false
        const documented = limiter.execute(Effect.suspend(() => {
          admitted = true
          allowed++
          return self
        }))
        return (adaptive === undefined ? documented : Effect.zipRight(adaptive.acquire, documented)).pipe(
          Effect.catchIf(
            (error): error is RateLimiterStore.RateLimiterStoreError =>
              error instanceof RateLimiterStore.RateLimiterStoreError,
            Effect.die
          ),
          // not admitted: the limiter's own RateLimitedError (the wait would exceed maxWait)
          Effect.tapError(() => Effect.sync(() => admitted || rejected++)),
          windowed
        ) as Effect.Effect<A, E | RateLimitedError, R>
      })
  })
}

/**
 * `defaults` is the provider's default policy and `overrides` the layer's
 * `options.policy`; the ResilienceConfig in context sits between them.
 *
 * @internal
 */
export const makeBrokerClient = (
  api: BrokerApi,
  defaults: ProviderPolicy,
  overrides?: Overrides | undefined
): Effect.Effect<BrokerService, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const policy = yield* configure(defaults, overrides)
    const provider = policy.provider
    const budget = yield* RetryBudget.make({})
    const quota = yield* makeQuota(policy)
    const readSpec = policy.requests
    const orderSpec = policy.orders ?? policy.requests
    const reads = yield* makeOperation(provider, "broker_api", readSpec, quota, budget)
    const orders = yield* makeOperation(provider, "order_execution", orderSpec, quota, budget)
    const guards: IdempotentOrders.Guards<ResilienceError> = {
      isolate: orders.isolate,
      attempt: orders.attempt,
      lookup: reads.attempt,
      retry: orders.retry
    }
    return {
      provider,
      policy: { ...policy, requests: readSpec, orders: orderSpec },
      placeOrder: (request) => IdempotentOrders.placeOrder(api, guards, request),
      // A cancel is safe to repeat: a second DELETE of a cancelled order is a no-op or a typed error.
      cancelOrder: (orderId) => reads.call(api.cancelOrder(orderId)),
      getOrder: (orderId) => reads.call(api.getOrder(orderId)),
      getOrderByClientOrderId: (clientOrderId) => reads.call(api.getOrderByClientOrderId(clientOrderId)),
      listOpenOrders: reads.call(api.listOpenOrders),
      positions: reads.call(api.positions),
      account: reads.call(api.account)
    }
  })

/**
 * As `makeBrokerClient`: defaults, then the ResilienceConfig in context, then
 * `overrides`.
 *
 * @internal
 */
export const makeMarketDataClient = (
  api: MarketDataApi,
  defaults: ProviderPolicy,
  overrides?: Overrides | undefined,
  onQuota?: ((quota: Guard, learned: AdaptiveRateLimiter.AdaptiveRateLimiter | undefined) => void) | undefined
): Effect.Effect<MarketDataService, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const policy = yield* configure(defaults, overrides)
    const provider = policy.provider
    const budget = yield* RetryBudget.make({})
    let learned: AdaptiveRateLimiter.AdaptiveRateLimiter | undefined
    const quota = yield* makeQuota(policy, (tokensPerSecond) =>
      Effect.tap(
        AdaptiveRateLimiter.make({
          name: `clients/${provider}`,
          maxRate: tokensPerSecond,
          burstSize: policy.rateLimit?.burst,
          maxWait: policy.rateLimit?.maxWait
        }),
        (limiter) => {
          learned = limiter
        }
      ))
    onQuota?.(quota, learned)
    const spec = policy.requests
    const reads = yield* makeOperation(provider, "market_data", spec, quota, budget)
    return {
      provider,
      policy: { ...policy, requests: spec },
      bars: (symbol, timeframe, query) => reads.call(api.bars(symbol, timeframe, query)),
      latestQuote: (symbol) => reads.call(api.latestQuote(symbol))
    }
  })
