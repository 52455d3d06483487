/**
 * @effect-resilience/core — circuit breakers, retries, bulkheads, timeouts
 * and token-bucket rate limiting as Effect values and Layers.
 *
 * @since 0.1.0
 */

/**
 * Typed errors of every policy and the `ResilienceError` union.
 *
 * @since 0.1.0
 */
export * as ResilienceError from "./ResilienceError.js"

/**
 * Circuit breaker: Closed / Open / HalfOpen (+ Isolated, Disabled), tripped by
 * consecutive failures, failure rate or slow-call rate; rejections fail with
 * `CircuitOpenError`.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * The circuit breaker's state machine: an immutable state union, pluggable
 * trip rules and one pure transition function, free of Effect and I/O (shared
 * by the in-process breaker and the fleet-wide one).
 *
 * @since 0.2.0
 */
export * as CircuitBreakerMachine from "./CircuitBreakerMachine.js"

/**
 * Get-or-create circuit breakers by `service/resource`, with a snapshot of
 * every breaker, failure counts per service and one merged event stream.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerRegistry from "./CircuitBreakerRegistry.js"

/**
 * Where a fleet-wide breaker's state lives: a versioned compare-and-set
 * register per key with pushed changes (the Tag), and the in-memory store.
 *
 * @since 0.3.0
 */
export * as CircuitBreakerStore from "./CircuitBreakerStore.js"

/**
 * A fleet-wide circuit breaker: every instance's local breaker plus one
 * shared state in a `CircuitBreakerStore`; the fleet opens (with a quorum of
 * instances), probes and closes together.
 *
 * @since 0.3.0
 */
export * as SharedCircuitBreaker from "./SharedCircuitBreaker.js"

/**
 * Retry with exponential backoff and jitter, constant delay or any Schedule;
 * retryable errors by tag or predicate, `retryAfter` honoured, a log line and
 * metric per attempt, and an optional shared `RetryBudget`.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * Retry budget: retries capped at a share of calls plus a floor per second,
 * over a sliding window; share one per service.
 *
 * @since 0.1.0
 */
export * as RetryBudget from "./RetryBudget.js"

/**
 * Timeout that answers on time (`TimeoutError`) and interrupts the timed-out
 * effect in the background; no timer when the effect completes synchronously.
 *
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"

/**
 * Token-bucket storage behind `RateLimiter`: the `RateLimiterStore` Tag, its
 * decision model, and the bounded in-memory store (`layerMemory`).
 *
 * @since 0.1.0
 */
export * as RateLimiterStore from "./RateLimiterStore.js"

/**
 * Token-bucket rate limiting, per client key and global, in `fail` or `wait`
 * mode, with exact `retryAfter` for `Retry-After` headers.
 *
 * @since 0.1.0
 */
export * as RateLimiter from "./RateLimiter.js"

/**
 * A client-side limiter that learns a provider's quota: AIMD on its rate from
 * 429s, `Retry-After` honoured, advertised `RateLimit` / `X-RateLimit-*`
 * quotas followed at once, within `[minRate, maxRate]`.
 *
 * @since 0.3.0
 */
export * as AdaptiveRateLimiter from "./AdaptiveRateLimiter.js"

/**
 * The headers a server states its quota in (`Retry-After`, `RateLimit`,
 * `RateLimit-Policy`, `X-RateLimit-*`), read with bounds: the project's one
 * parser of them.
 *
 * @since 0.3.0
 */
export * as QuotaHeaders from "./QuotaHeaders.js"

/**
 * FIFO bulkhead: bounded concurrency, a bounded waiting queue and an acquire
 * timeout, with no leaked permit on interruption.
 *
 * @since 0.1.0
 */
export * as Bulkhead from "./Bulkhead.js"

/**
 * Adaptive concurrency: a bulkhead whose limit follows measured latency and
 * drops, within bounds.
 *
 * @since 0.2.0
 */
export * as AdaptiveBulkhead from "./AdaptiveBulkhead.js"

/**
 * The adaptive limit algorithms (AIMD, Gradient2, Vegas) as values, and their
 * pure update rules.
 *
 * @since 0.2.0
 */
export * as AdaptiveLimit from "./AdaptiveLimit.js"

/**
 * Schema-validated per-service-type settings (breaker, retry, bulkhead,
 * timeout): the BROKER / DATA_PROVIDER / INTERNAL profiles, the trading
 * gateway's tables, overrides from code, JSON or environment variables.
 *
 * @since 0.1.0
 */
export * as ResilienceConfig from "./ResilienceConfig.js"

/**
 * Composing policies in one documented order
 * (`Bulkhead(Retry(CircuitBreaker(Timeout(call))))`), the `Resilience`
 * service, and `withResilience`: a service/operation's whole stack from its
 * configured profile.
 *
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"

/**
 * Fallback: a value, an effect, or the last good value (with an age limit)
 * when a call fails with an error it handles; stands outside the stack.
 *
 * @since 0.2.0
 */
export * as Fallback from "./Fallback.js"

/**
 * Fault injection (as Polly's Simmy): failures, latency or a chosen result
 * at a rate; off by default, switched at run time through a `Ref`.
 *
 * @since 0.2.0
 */
export * as FaultInjection from "./FaultInjection.js"

/**
 * Hedging: after a delay (fixed, or a percentile of recent latencies) start
 * another attempt; the first success wins, the others are interrupted. Only
 * for operations marked idempotent.
 *
 * @since 0.2.0
 */
export * as Hedge from "./Hedge.js"

/**
 * Option checks that fail with a typed `InvalidOptionsError` naming the
 * option: for packages and programs that build policies on core.
 *
 * @since 0.1.0
 */
export * as Validate from "./Validate.js"

/**
 * What every policy reports: the metric families (prefix `resilience_`, one
 * label scheme) and the span attributes and events, in one table.
 *
 * @since 0.2.0
 */
export * as Observability from "./Observability.js"
