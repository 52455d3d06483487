/**
 * What every policy reports, in one place: the metric families (one prefix,
 * `resilience_`, one label scheme) and the span attributes and events
 * (OpenTelemetry semantic-convention style). Reach for it to build
 * dashboards and alerts, or to read a policy's decisions in a trace.
 *
 * **Metrics** are Effect metrics (`effect/Metric`): any exporter of Effect's
 * registry publishes them, e.g. `@effect/opentelemetry`'s `Metrics.layer`
 * with `@opentelemetry/exporter-prometheus` (the gateway does). Every series
 * carries `policy` (`circuit_breaker`, `retry`, `retry_budget`, `bulkhead`,
 * `timeout`, `rate_limiter`, `adaptive_rate_limiter`, `hedge`, `fallback`, `fault_injection`;
 * `rate_limiter_store` and `http_client` in the redis and http packages),
 * `service` (the policy instance's name) and
 * `operation` (empty where the policy has none); a decision adds `outcome`,
 * `reason`, `state`, `from`/`to` or `error_type`. Counters end in `_total`;
 * durations are histograms in seconds. A series appears at its first update.
 *
 * **Spans**: the policies never open a span of their own (`Policy`'s
 * `withResilience` can, with its `span` option); they record their
 * decisions as events on the current span, only on decision paths (a retry
 * scheduled, a rejection, a timeout, a queued call, a state change, a
 * hedged attempt, a fallback, an injected fault). With no
 * tracer installed there is no current span and nothing is recorded.
 *
 * @since 0.2.0
 */
import type * as MetricBoundaries from "effect/MetricBoundaries"
import * as T from "./internal/telemetry.js"

/**
 * The prefix of every metric family of the policies.
 *
 * @since 0.2.0
 * @category metrics
 */
export const prefix: string = T.PREFIX

/**
 * One metric family as it appears in a Prometheus exposition.
 *
 * @since 0.2.0
 * @category models
 */
export interface MetricFamily {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram"
  /** Label keys, in order. */
  readonly labels: ReadonlyArray<string>
  readonly description: string
}

const scheme = ["policy", "service", "operation"] as const

/**
 * Every metric family of core's policies:
 *
 * | name | type | labels (after policy, service, operation) |
 * |---|---|---|
 * | `resilience_circuit_breaker_calls_total` | counter | `outcome`: success, failure, ignored, interrupted |
 * | `resilience_circuit_breaker_rejections_total` | counter | `state`: Open, HalfOpen, Isolated |
 * | `resilience_circuit_breaker_transitions_total` | counter | `from`, `to` |
 * | `resilience_circuit_breaker_state` | gauge | (0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled) |
 * | `resilience_circuit_breaker_store_errors_total` | counter | `call`: read, compareAndSet, changes (fleet-wide breaker) |
 * | `resilience_circuit_breaker_shared` | gauge | (1 sharing state, 0 on the local breaker alone; fleet-wide breaker) |
 * | `resilience_retry_attempts_total` | counter | `error_type` |
 * | `resilience_retry_give_ups_total` | counter | `error_type`, `reason`: exhausted, budgetExhausted, retryAfterBeyondMaxDelay |
 * | `resilience_retry_delay_seconds` | histogram | (buckets: `retryDelayBuckets`) |
 * | `resilience_retry_budget_exhausted_total` | counter | |
 * | `resilience_bulkhead_active` / `_waiting` | gauge | |
 * | `resilience_bulkhead_rejections_total` | counter | `reason`: full, timeout |
 * | `resilience_adaptive_limit` | gauge | `algorithm`: AIMD, Gradient2, Vegas (an `AdaptiveBulkhead`'s current limit) |
 * | `resilience_timeouts_total` | counter | |
 * | `resilience_rate_limiter_decisions_total` | counter | `outcome`: allowed, waited, rejected |
 * | `resilience_learned_rate` | gauge | (an adaptive rate limiter's rate, calls per second) |
 * | `resilience_learned_rate_decreases_total` | counter | `reason`: status_429, retry_after, headers |
 * | `resilience_hedge_attempts_total` | counter | (hedged attempts started, the primary not counted) |
 * | `resilience_hedge_wins_total` | counter | `outcome`: primary, hedge, none (every attempt failed) |
 * | `resilience_fallbacks_total` | counter | `outcome`: served, stale, expired, missing |
 * | `resilience_fault_injections_total` | counter | `reason`: failure, latency, result (the kind of fault) |
 *
 * For the circuit breaker, `service` and `operation` are its `service` and
 * `resource`; a fleet-wide breaker (`SharedCircuitBreaker`) reports the
 * fleet's transitions, state and rejections in the breaker families with one
 * more label, `scope="fleet"` (its local breaker's series are as above); for a bulkhead, a rate limiter, a hedge, a fallback or a fault
 * injection, `service` is its `name` (`operation` empty); for a
 * retry, its `service` and `operation`; for a timeout, `operation` is its
 * `operation`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const metrics: ReadonlyArray<MetricFamily> = [
  family(T.breakerCalls.name, "counter", ["outcome"], T.breakerCalls.description),
  family(T.breakerRejections.name, "counter", ["state"], T.breakerRejections.description),
  family(T.breakerTransitions.name, "counter", ["from", "to"], T.breakerTransitions.description),
  family(T.breakerState.name, "gauge", [], T.breakerState.description),
  family(T.breakerStoreErrors.name, "counter", ["call"], T.breakerStoreErrors.description),
  family(T.breakerShared.name, "gauge", [], T.breakerShared.description),
  family(T.retryAttempts.name, "counter", ["error_type"], T.retryAttempts.description),
  family(T.retryGiveUps.name, "counter", ["error_type", "reason"], T.retryGiveUps.description),
  family(T.retryDelay.name, "histogram", [], T.retryDelay.description),
  family(T.retryBudgetExhausted.name, "counter", [], T.retryBudgetExhausted.description),
  family(T.bulkheadActive.name, "gauge", [], T.bulkheadActive.description),
  family(T.bulkheadWaiting.name, "gauge", [], T.bulkheadWaiting.description),
  family(T.bulkheadRejections.name, "counter", ["reason"], T.bulkheadRejections.description),
  family(T.adaptiveLimit.name, "gauge", ["algorithm"], T.adaptiveLimit.description),
  family(T.timeouts.name, "counter", [], T.timeouts.description),
  family(T.rateLimiterDecisions.name, "counter", ["outcome"], T.rateLimiterDecisions.description),
  family(T.learnedRate.name, "gauge", [], T.learnedRate.description),
  family(T.learnedRateDecreases.name, "counter", ["reason"], T.learnedRateDecreases.description),
  family(T.hedgeAttempts.name, "counter", [], T.hedgeAttempts.description),
  family(T.hedgeWins.name, "counter", ["outcome"], T.hedgeWins.description),
  family(T.fallbacks.name, "counter", ["outcome"], T.fallbacks.description),
  family(T.faultInjections.name, "counter", ["reason"], T.faultInjections.description)
]

function family(
  name: string,
  type: MetricFamily["type"],
  labels: ReadonlyArray<string>,
  description: { readonly _tag: "Some"; readonly value: string } | { readonly _tag: "None" }
): MetricFamily {
  return {
    name,
    type,
    labels: [...scheme, ...labels],
    description: description._tag === "Some" ? description.value : ""
  }
}

/**
 * The buckets of `resilience_retry_delay_seconds`: 5 ms doubling to ~82 s.
 *
 * @since 0.2.0
 * @category metrics
 */
export const retryDelayBuckets: MetricBoundaries.MetricBoundaries = T.delayBuckets

/**
 * The span attribute keys the policies use:
 *
 * | key | on | value |
 * |---|---|---|
 * | `resilience.policy` | `withResilience`'s span | the policies composed, e.g. `timeout,retry,circuit_breaker,bulkhead` |
 * | `resilience.service`, `resilience.operation` | `withResilience`'s span | the profile's service and the call's operation |
 * | `resilience.outcome` | `withResilience`'s span | success, failure, rejected, timeout |
 * | `error.type` | retry events, the span on failure | the error's `_tag` (or class name) |
 * | `resilience.retry.attempt`, `resilience.retry.delay_ms` | `resilience.retry` | attempts so far, the delay before the next |
 * | `resilience.retry.give_up_reason` | `resilience.retry.give_up` | exhausted, budgetExhausted, retryAfterBeyondMaxDelay |
 * | `resilience.circuit_breaker.name`, `….state` | `resilience.circuit_breaker.rejected` | the breaker, the state that rejected |
 * | `resilience.circuit_breaker.scope` | `resilience.circuit_breaker.rejected` | `fleet` when a fleet-wide breaker's shared state rejected (unset: the breaker's own) |
 * | `resilience.retry_after_ms` | rejections | when to try again |
 * | `resilience.circuit_breaker.from`, `….to` | `resilience.circuit_breaker.state_change` | the transition |
 * | `resilience.bulkhead.name`, `….waiting`, `….reason`, `….wait_ms` | `resilience.bulkhead.*` | queue length, full/timeout, time queued |
 * | `resilience.bulkhead.algorithm`, `….previous_limit`, `….limit` | `resilience.bulkhead.limit_changed` | an adaptive bulkhead's algorithm, its limit before and after (changes of 10% or more) |
 * | `resilience.timeout.duration_ms` | `resilience.timeout` | the timeout that fired |
 * | `resilience.rate_limiter.name`, `….allowed`, `….remaining` | `resilience.rate_limiter.decision` | a wait or a rejection |
 * | `resilience.adaptive_rate_limiter.name`, `….rate`, `….reason` | `resilience.adaptive_rate_limiter.rate_changed` | the new rate (calls per second); status_429, retry_after, headers or increase |
 * | `resilience.hedge.name`, `….attempt`, `….delay_ms`, `….trigger` | `resilience.hedge.attempt_started` | the attempt's index (1 = first hedge), the call's hedging delay, what started it: delay, failure |
 * | `resilience.hedge.name`, `….winner`, `….attempt` | `resilience.hedge.settled` | primary, hedge, none (every attempt failed); the deciding attempt's index |
 * | `resilience.fallback.name`, `….outcome`, `error.type`, `….age_ms` | `resilience.fallback` | served, stale, expired, missing; the handled error's tag; the remembered value's age (stale, expired) |
 * | `resilience.fault_injection.name`, `….kind` | `resilience.fault_injection.injected` | failure, latency, result |
 *
 * @since 0.2.0
 * @category spans
 */
export const SpanAttributes: typeof T.Attr = T.Attr

/**
 * The span event names: `resilience.retry`, `resilience.retry.give_up`,
 * `resilience.circuit_breaker.rejected`,
 * `resilience.circuit_breaker.state_change`, `resilience.bulkhead.queued`,
 * `resilience.bulkhead.acquired`, `resilience.bulkhead.rejected`,
 * `resilience.bulkhead.limit_changed` (an adaptive bulkhead's limit moved by
 * 10% or more since the last one reported),
 * `resilience.timeout`, `resilience.rate_limiter.decision` (recorded for
 * waits and rejections, never for a plain allow),
 * `resilience.hedge.attempt_started` and `resilience.hedge.settled` (only
 * when the primary did not complete at once), `resilience.fallback` (a
 * handled failure), `resilience.fault_injection.injected`,
 * `resilience.adaptive_rate_limiter.rate_changed` (a change worth knowing:
 * a decrease with a pause, or a move of 10% and more).
 *
 * @since 0.2.0
 * @category spans
 */
export const SpanEvents: typeof T.Event = T.Event
