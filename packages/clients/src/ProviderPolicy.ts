/**
 * What resilience each provider gets, as plain data: the breaker, retry,
 * bulkhead, timeout and rate-limit settings a provider layer composes once
 * from `@effect-resilience/core` and exposes on its service (`client.policy`).
 *
 * Reach for this module to read what a client will do under failure (for a
 * status page or a review), or to override a provider's defaults
 * (`ProviderPolicy.override`) before handing them to its layer.
 *
 * Precedence, lowest to highest: the provider's defaults here, then a
 * `ResilienceConfig` service in context (breaker / retry / bulkhead / timeout
 * of a service it names, e.g. `services.alpaca` or `services["alpaca.orders"]`;
 * the quota from the `rateLimit` of the provider's service name or service
 * type, see `withConfiguredQuota`), then the layer's `options.policy`.
 *
 * Defaults come from the trading gateway's per-service-type tables:
 * brokers use `broker_api` for reads and `order_execution` for order
 * placement (breaker + retry + bulkhead + timeout, plus the broker's own
 * request quota); data providers use `market_data` retry and timeout and a
 * `wait`-mode token bucket at the provider's documented quota.
 *
 * @since 0.1.0
 */
import type * as AdaptiveBulkhead from "@effect-resilience/core/AdaptiveBulkhead"
import * as ResilienceConfig from "@effect-resilience/core/ResilienceConfig"
import { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

/**
 * @since 0.1.0
 * @category models
 */
export interface BreakerSpec {
  /** Consecutive failed attempts that open the breaker. */
  readonly failureThreshold: number
  /** How long it stays open before a half-open probe. */
  readonly resetTimeout: Duration.Duration
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RetrySpec {
  /** Retries after the first attempt (0 disables retrying). */
  readonly maxRetries: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly factor: number
  readonly jitter: "full" | "equal" | "decorrelated" | "none"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BulkheadSpec {
  /** The limit; with `adaptive`, the ceiling the adaptive limit stays under. */
  readonly maxConcurrent: number
  readonly maxWaiting: number
  /**
   * Opt-in: the limit follows the provider's latency (core's
   * `AdaptiveBulkhead`, `AdaptiveLimit.aimd()` / `gradient2()` / `vegas()`)
   * from `minLimit` up to `maxConcurrent`. No profile sets it: a fixed limit
   * stays the default until a provider's measurements show the adaptive one
   * is better.
   *
   * @default undefined: a fixed `maxConcurrent`
   */
  readonly adaptive?: AdaptiveSpec | undefined
}

/**
 * An adaptive bulkhead's settings (see core's `AdaptiveBulkhead.Options`;
 * `maxLimit` is the spec's `maxConcurrent`).
 *
 * @since 0.2.0
 * @category models
 */
export type AdaptiveSpec = Omit<AdaptiveBulkhead.Options, "name" | "maxLimit" | "maxWaiting" | "acquireTimeout">

/**
 * A provider quota enforced client-side by a `wait`-mode token bucket:
 * callers over the quota wait for a token (up to `maxWait`) rather than fail,
 * so the provider never sees more than it allows.
 *
 * A bucket of `burst` tokens refilled at `refill` per `interval` lets through at most
 * `burst + refill - 1` calls in any window of length `interval`: the defaults
 * are chosen so that this never exceeds the provider's documented quota.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitSpec {
  readonly refill: number
  readonly interval: Duration.Duration
  readonly burst: number
  /** The longest a caller waits for a token before failing with `RateLimitedError`. */
  readonly maxWait: Duration.Duration
  /**
   * `"wait"`: callers over the quota wait for a token (up to `maxWait`);
   * `"fail"`: they fail with `RateLimitedError` at once.
   *
   * @default "wait"
   */
  readonly mode?: "fail" | "wait" | undefined
  /** The documented quota this bucket enforces, and where it is documented. */
  readonly source: string
  /**
   * Market-data clients: also learn the provider's real quota from its
   * responses (429s, `Retry-After`, `RateLimit` / `X-RateLimit-*` headers;
   * core's `AdaptiveRateLimiter`), below this documented one, which stays
   * the hard ceiling. `false`: the documented quota alone.
   *
   * @default true
   */
  readonly learn?: boolean | undefined
  /**
   * A provider quota with several fixed windows beside the bucket ("25 per
   * day"): core's `RateLimiter.Options.windows`, windows aligned to the
   * epoch (a day resets at UTC midnight), decided atomically with the bucket.
   * A call whose window is full until past `maxWait` fails at once.
   *
   * @default none
   * @since 0.2.0
   */
  readonly windows?: ReadonlyArray<{ readonly limit: number; readonly per: Duration.Duration }> | undefined
}

/**
 * One group of operations' policy (reads, or order placement).
 *
 * @since 0.1.0
 * @category models
 */
export interface OperationPolicy {
  readonly breaker?: BreakerSpec | undefined
  readonly retry: RetrySpec
  readonly bulkhead?: BulkheadSpec | undefined
  /** Per attempt. */
  readonly timeout?: Duration.Duration | undefined
}

/**
 * A provider's whole policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderPolicy {
  readonly provider: string
  readonly kind: "broker" | "market_data"
  /** Reads: quotes, bars, orders, positions, account, cancels. */
  readonly requests: OperationPolicy
  /** Order placement (brokers only): retried only through the idempotent path. */
  readonly orders?: OperationPolicy | undefined
  /** The provider's quota, shared by every operation of this client. */
  readonly rateLimit?: RateLimitSpec | undefined
}

// The profiles' numbers live in core's ResilienceConfig tables (one source);
// a policy keeps the fields a client uses, as plain data.

/**
 * The retry part of a core `ResilienceConfig` profile as a `RetrySpec`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retryOf = (retry: ResilienceConfig.RetrySettings): RetrySpec => ({
  maxRetries: retry.maxRetries,
  baseDelay: retry.baseDelay,
  maxDelay: retry.maxDelay,
  factor: retry.factor,
  jitter: retry.jitter
})

const breakerOf = (breaker: ResilienceConfig.BreakerSettings): BreakerSpec => ({
  failureThreshold: breaker.failureThreshold,
  resetTimeout: breaker.resetTimeout
})

const bulkheadOf = (bulkhead: ResilienceConfig.BulkheadSettings): BulkheadSpec => ({
  maxConcurrent: bulkhead.maxConcurrent,
  maxWaiting: bulkhead.maxWaiting
})

/**
 * The seed's `broker_api` profile: breaker 5 failures / 60 s, 3 retries from
 * 1 s up to 30 s (×2, jittered), bulkhead 10 + 20 waiting, 10 s timeout.
 *
 * @since 0.1.0
 * @category profiles
 */
export const brokerApi: OperationPolicy = {
  breaker: breakerOf(ResilienceConfig.BROKER.breaker),
  retry: retryOf(ResilienceConfig.BROKER.retry),
  bulkhead: bulkheadOf(ResilienceConfig.BROKER.bulkhead),
  timeout: ResilienceConfig.BROKER.timeout
}

/**
 * The seed's `order_execution` profile: breaker 3 failures / 120 s, the
 * broker_api retry, bulkhead 5 + 10 waiting, 30 s timeout.
 *
 * @since 0.1.0
 * @category profiles
 */
export const orderExecution: OperationPolicy = {
  breaker: breakerOf(ResilienceConfig.ORDER_EXECUTION.breaker),
  retry: brokerApi.retry,
  bulkhead: bulkheadOf(ResilienceConfig.ORDER_EXECUTION.bulkhead),
  timeout: ResilienceConfig.ORDER_EXECUTION.timeout
}

/**
 * The seed's `market_data` profile, as data providers use it: 5 retries from
 * 0.5 s up to 10 s (×2, jittered) and a 5 s timeout. No breaker or bulkhead
 * by default (the PRD gives data providers retry + rate limiter); add them
 * with `override`.
 *
 * @since 0.1.0
 * @category profiles
 */
export const marketData: OperationPolicy = {
  retry: retryOf(ResilienceConfig.DATA_PROVIDER.retry),
  timeout: ResilienceConfig.DATA_PROVIDER.timeout
}

/**
 * A broker's default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const broker = (provider: string, rateLimit?: RateLimitSpec | undefined): ProviderPolicy => ({
  provider,
  kind: "broker",
  requests: brokerApi,
  orders: orderExecution,
  rateLimit
})

/**
 * A data provider's default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const dataProvider = (provider: string, rateLimit?: RateLimitSpec | undefined): ProviderPolicy => ({
  provider,
  kind: "market_data",
  requests: marketData,
  rateLimit
})

/**
 * Partial overrides of a policy, merged field by field (`null` removes an
 * optional part, e.g. `{ requests: { breaker: null } }`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Overrides {
  readonly requests?: OperationOverrides | undefined
  readonly orders?: OperationOverrides | undefined
  readonly rateLimit?: Partial<RateLimitSpec> | null | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OperationOverrides {
  readonly breaker?: Partial<BreakerSpec> | null | undefined
  readonly retry?: Partial<RetrySpec> | undefined
  readonly bulkhead?: Partial<BulkheadSpec> | null | undefined
  readonly timeout?: Duration.DurationInput | null | undefined
}

const mergePart = <A extends object>(
  base: A | undefined,
  patch: Partial<A> | null | undefined,
  fallback: A | undefined
): A | undefined => {
  if (patch === null) return undefined
  if (patch === undefined) return base
  const start = base ?? fallback
  return start === undefined ? undefined : { ...start, ...stripUndefined(patch) }
}

const stripUndefined = <A extends object>(a: A): Partial<A> => {
  const out: Partial<A> = {}
  for (const key of Object.keys(a) as Array<keyof A>) {
    if (a[key] !== undefined) out[key] = a[key]
  }
  return out
}

const mergeOperation = (
  base: OperationPolicy | undefined,
  patch: OperationOverrides | undefined,
  fallback: OperationPolicy
): OperationPolicy | undefined => {
  if (patch === undefined) return base
  const start = base ?? fallback
  return {
    breaker: mergePart(start.breaker, patch.breaker, brokerApi.breaker),
    retry: mergePart(start.retry, patch.retry, start.retry) ?? start.retry,
    bulkhead: mergePart(start.bulkhead, patch.bulkhead, brokerApi.bulkhead),
    timeout: patch.timeout === null
      ? undefined
      : patch.timeout === undefined
      ? start.timeout
      : Duration.decode(patch.timeout)
  }
}

/**
 * Apply overrides to a policy. Values are checked when the policy is built
 * (core's `make` rejects a bad one with `InvalidOptionsError`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const override = (self: ProviderPolicy, overrides: Overrides | undefined): ProviderPolicy => {
  if (overrides === undefined) return self
  return {
    provider: self.provider,
    kind: self.kind,
    requests: mergeOperation(self.requests, overrides.requests, self.requests) ?? self.requests,
    orders: mergeOperation(self.orders, overrides.orders, orderExecution),
    rateLimit: overrides.rateLimit === null
      ? undefined
      : overrides.rateLimit === undefined
      ? self.rateLimit
      : self.rateLimit === undefined
      ? undefined
      : { ...self.rateLimit, ...stripUndefined(overrides.rateLimit) }
  }
}

/**
 * A provider's quota with a `ResilienceConfig` `rateLimit` section applied,
 * field by field: `tokensPerSecond` replaces the refill rate (per second),
 * `burstSize` the bucket size, `maxWait` and `mode` their namesakes; unset
 * fields keep the provider's default. `undefined` settings keep `base`. A
 * client with no default quota needs `tokensPerSecond` (burst 1 and a 2-minute
 * `maxWait` unless given); without it this fails with `InvalidOptionsError`
 * naming `where`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withConfiguredQuota = (
  base: RateLimitSpec | undefined,
  settings: ResilienceConfig.RateLimitSettings | undefined,
  where: string
): Either.Either<RateLimitSpec | undefined, InvalidOptionsError> => {
  if (settings === undefined) return Either.right(base)
  const perSecond = settings.tokensPerSecond === undefined
    ? undefined
    : { refill: settings.tokensPerSecond, interval: Duration.seconds(1) }
  if (base === undefined && perSecond === undefined) {
    return Either.left(
      new InvalidOptionsError({
        policy: "ProviderPolicy",
        option: `${where}.tokensPerSecond`,
        value: "(missing)",
        rule: "is required: this client has no default quota for the other rateLimit settings to adjust"
      })
    )
  }
  const mode = settings.mode ?? base?.mode
  return Either.right({
    refill: perSecond?.refill ?? base!.refill,
    interval: perSecond?.interval ?? base!.interval,
    burst: settings.burstSize ?? base?.burst ?? 1,
    maxWait: settings.maxWait ?? base?.maxWait ?? Duration.minutes(2),
    ...(mode === undefined ? {} : { mode }),
    ...(base?.learn === undefined ? {} : { learn: base.learn }),
    ...(base?.windows === undefined ? {} : { windows: base.windows }),
    source: base === undefined
      ? `ResilienceConfig ${where}`
      : `ResilienceConfig ${where} over the provider's default (${base.source})`
  })
}

/**
 * A quota as a token bucket that never exceeds it: `quota` calls per
 * `interval` with a burst of `burst` refills `quota - burst + 1` tokens per
 * interval (so that any window of that length admits at most `quota`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const quota = (options: {
  readonly quota: number
  readonly interval: Duration.DurationInput
  readonly burst?: number | undefined
  readonly maxWait?: Duration.DurationInput | undefined
  readonly source: string
  /** Fixed windows beside the bucket (see `RateLimitSpec.windows`). */
  readonly windows?: ReadonlyArray<{ readonly limit: number; readonly per: Duration.DurationInput }> | undefined
}): RateLimitSpec => {
  const burst = Math.max(1, Math.min(options.burst ?? 1, options.quota))
  const spec: RateLimitSpec = {
    refill: options.quota - burst + 1,
    interval: Duration.decode(options.interval),
    burst,
    maxWait: Duration.decode(options.maxWait ?? Duration.minutes(2)),
    source: options.source
  }
  return options.windows === undefined || options.windows.length === 0 ? spec : {
    ...spec,
    windows: options.windows.map((w) => ({ limit: w.limit, per: Duration.decode(w.per) }))
  }
}
