/**
 * The one place that names what the policies report: metric families (one
 * prefix, one label scheme), span attribute names and span event names, and
 * the helper that records a decision on the current span. The public table
 * is `Observability.ts`.
 *
 * Span events are recorded only on decision and failure paths (a retry
 * scheduled, a rejection, a timeout, a state change), never on a success
 * path, and only when a span is open on the fiber.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { tagOf } from "../ResilienceError.js"

// ---------------------------------------------------------------------------
// labels
// ---------------------------------------------------------------------------

/** @internal */
export type PolicyName =
  | "circuit_breaker"
  | "retry"
  | "retry_budget"
  | "bulkhead"
  | "timeout"
  | "rate_limiter"
  | "rate_limiter_store"
  | "http_client"
  | "hedge"
  | "fallback"
  | "fault_injection"
  | "adaptive_rate_limiter"

/** The labels every policy series carries: `policy`, `service`, `operation`. @internal */
export const baseLabels = (
  policy: PolicyName,
  service: string,
  operation: string
): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("policy", policy),
  MetricLabel.make("service", service),
  MetricLabel.make("operation", operation)
]

/** `Metric.tagged` for a list of labels, resolved once (the key is built here, not per update). @internal */
export const taggedCounter = (
  key: MetricKey.MetricKey.Counter<number>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Metric.Metric.Counter<number> => Metric.fromMetricKey(MetricKey.taggedWithLabels(key, labels))

/** @internal */
export const taggedGauge = (
  key: MetricKey.MetricKey.Gauge<number>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Metric.Metric.Gauge<number> => Metric.fromMetricKey(MetricKey.taggedWithLabels(key, labels))

/** @internal */
export const taggedHistogram = (
  key: MetricKey.MetricKey.Histogram,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Metric.Metric.Histogram<number> => Metric.fromMetricKey(MetricKey.taggedWithLabels(key, labels))

// ---------------------------------------------------------------------------
// metric families
// ---------------------------------------------------------------------------

/** Every family's name starts with this. @internal */
export const PREFIX = "resilience_"

const counter = (name: string, description: string) =>
  MetricKey.counter(`${PREFIX}${name}`, { description, incremental: true })

/**
 * Delay buckets, in seconds: 5 ms doubling up to ~82 s (15 buckets), wide
 * enough for a backoff from its first step to a long `retryAfter`.
 *
 * @internal
 */
export const delayBuckets = MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 15 })

/** @internal */
export const breakerCalls = counter(
  "circuit_breaker_calls_total",
  "Calls that went through a circuit breaker, by outcome"
)
/** @internal */
export const breakerRejections = counter(
  "circuit_breaker_rejections_total",
  "Calls rejected by a circuit breaker, by the state that rejected them"
)
/** @internal */
export const breakerTransitions = counter("circuit_breaker_transitions_total", "Circuit breaker state changes")
/** @internal */
export const breakerState = MetricKey.gauge(`${PREFIX}circuit_breaker_state`, {
  description: "Circuit breaker state: 0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled"
})
/** @internal */
export const breakerStoreErrors = counter(
  "circuit_breaker_store_errors_total",
  "Calls of a fleet-wide breaker to its shared-state store that failed or timed out, by store call"
)
/** @internal */
export const breakerShared = MetricKey.gauge(`${PREFIX}circuit_breaker_shared`, {
  description: "Fleet-wide breaker: 1 while it shares state through its store, 0 while it runs on its local breaker"
})

/** @internal */
export const retryAttempts = counter("retry_attempts_total", "Retries scheduled after a failed attempt")
/** @internal */
export const retryGiveUps = counter(
  "retry_give_ups_total",
  "Retryable failures returned to the caller without a further retry, by reason"
)
/** @internal */
export const retryDelay = MetricKey.histogram(
  `${PREFIX}retry_delay_seconds`,
  delayBuckets,
  "Delay applied before each retry, in seconds"
)

/** @internal */
export const retryBudgetExhausted = counter(
  "retry_budget_exhausted_total",
  "Retries a retry budget refused (the retry was given up)"
)

/** @internal */
export const bulkheadActive = MetricKey.gauge(`${PREFIX}bulkhead_active`, {
  description: "Calls holding a bulkhead permit"
})
/** @internal */
export const bulkheadWaiting = MetricKey.gauge(`${PREFIX}bulkhead_waiting`, {
  description: "Calls queued for a bulkhead permit"
})
/** @internal */
export const bulkheadRejections = counter(
  "bulkhead_rejections_total",
  "Calls rejected by a bulkhead, by reason (full, timeout)"
)

/** @internal */
export const adaptiveLimit = MetricKey.gauge(`${PREFIX}adaptive_limit`, {
  description: "The current limit of an adaptive bulkhead (labelled algorithm)"
})

/** @internal */
export const timeouts = counter("timeouts_total", "Calls that a Timeout failed with TimeoutError")

/** @internal */
export const rateLimiterDecisions = counter(
  "rate_limiter_decisions_total",
  "Rate limiter decisions, by outcome (allowed, waited, rejected)"
)

/** @internal */
export const learnedRate = MetricKey.gauge(`${PREFIX}learned_rate`, {
  description: "An adaptive rate limiter's current rate, in calls per second"
})
/** @internal */
export const learnedRateDecreases = counter(
  "learned_rate_decreases_total",
  "Decreases of an adaptive rate limiter's rate, by reason (status_429, retry_after, headers)"
)

/** @internal */
export const hedgeAttempts = counter("hedge_attempts_total", "Hedged attempts started (not counting the primary)")
/** @internal */
export const hedgeWins = counter(
  "hedge_wins_total",
  "Calls that needed the hedging loop, by outcome (primary, hedge: the winner; none: every attempt failed)"
)

/** @internal */
export const fallbacks = counter(
  "fallbacks_total",
  "Handled failures of a fallback, by outcome (served, stale, expired, missing)"
)

/** @internal */
export const faultInjections = counter(
  "fault_injections_total",
  "Faults injected, by reason: the kind of fault (failure, latency, result)"
)

// ---------------------------------------------------------------------------
// spans
// ---------------------------------------------------------------------------

/** Span attribute and event names (OpenTelemetry semantic-convention style). @internal */
export const Attr = {
  policy: "resilience.policy",
  service: "resilience.service",
  operation: "resilience.operation",
  outcome: "resilience.outcome",
  errorType: "error.type",
  retryAttempt: "resilience.retry.attempt",
  retryDelayMs: "resilience.retry.delay_ms",
  retryReason: "resilience.retry.give_up_reason",
  breakerName: "resilience.circuit_breaker.name",
  breakerState: "resilience.circuit_breaker.state",
  breakerFrom: "resilience.circuit_breaker.from",
  breakerTo: "resilience.circuit_breaker.to",
  breakerScope: "resilience.circuit_breaker.scope",
  retryAfterMs: "resilience.retry_after_ms",
  bulkheadName: "resilience.bulkhead.name",
  bulkheadReason: "resilience.bulkhead.reason",
  bulkheadWaitMs: "resilience.bulkhead.wait_ms",
  bulkheadWaiting: "resilience.bulkhead.waiting",
  bulkheadLimit: "resilience.bulkhead.limit",
  bulkheadPreviousLimit: "resilience.bulkhead.previous_limit",
  bulkheadAlgorithm: "resilience.bulkhead.algorithm",
  timeoutMs: "resilience.timeout.duration_ms",
  rateLimiterName: "resilience.rate_limiter.name",
  rateLimiterAllowed: "resilience.rate_limiter.allowed",
  rateLimiterRemaining: "resilience.rate_limiter.remaining",
  rateLimiterWindow: "resilience.rate_limiter.window",
  hedgeName: "resilience.hedge.name",
  hedgeAttempt: "resilience.hedge.attempt",
  hedgeDelayMs: "resilience.hedge.delay_ms",
  hedgeWinner: "resilience.hedge.winner",
  hedgeTrigger: "resilience.hedge.trigger",
  fallbackName: "resilience.fallback.name",
  fallbackOutcome: "resilience.fallback.outcome",
  fallbackAgeMs: "resilience.fallback.age_ms",
  faultInjectionName: "resilience.fault_injection.name",
  faultInjectionKind: "resilience.fault_injection.kind",
  adaptiveRateLimiterName: "resilience.adaptive_rate_limiter.name",
  adaptiveRateLimiterRate: "resilience.adaptive_rate_limiter.rate",
  adaptiveRateLimiterReason: "resilience.adaptive_rate_limiter.reason"
} as const

/** @internal */
export const Event = {
  retry: "resilience.retry",
  retryGiveUp: "resilience.retry.give_up",
  breakerRejected: "resilience.circuit_breaker.rejected",
  breakerStateChange: "resilience.circuit_breaker.state_change",
  bulkheadQueued: "resilience.bulkhead.queued",
  bulkheadAcquired: "resilience.bulkhead.acquired",
  bulkheadRejected: "resilience.bulkhead.rejected",
  bulkheadLimitChanged: "resilience.bulkhead.limit_changed",
  timeout: "resilience.timeout",
  rateLimited: "resilience.rate_limiter.decision",
  hedgeAttemptStarted: "resilience.hedge.attempt_started",
  hedgeSettled: "resilience.hedge.settled",
  fallback: "resilience.fallback",
  faultInjected: "resilience.fault_injection.injected",
  learnedRateChanged: "resilience.adaptive_rate_limiter.rate_changed"
} as const

/** The open span in a context, if any. @internal */
export const spanOf = (context: Context.Context<never>): Tracer.Span | undefined => {
  const parent = Context.getOption(context, Tracer.ParentSpan)
  return parent._tag === "Some" && parent.value._tag === "Span" ? parent.value : undefined
}

/** Records `name` on the fiber's current span (no-op without one), synchronously. @internal */
export const unsafeEvent = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  name: string,
  attributes: Record<string, unknown>
): void => {
  const span = spanOf(fiber.currentContext)
  if (span === undefined) return
  const clock = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock)
  span.event(name, clock.unsafeCurrentTimeNanos(), attributes)
}

/**
 * Records `name` on the current span (no-op without one); `attributes` may be
 * computed from the Clock's time in milliseconds (to report a wait).
 *
 * @internal
 */
export const event = (
  name: string,
  attributes: Record<string, unknown> | ((nowMillis: number) => Record<string, unknown>)
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const span = spanOf(fiber.currentContext)
    if (span === undefined) return Effect.void
    return Effect.clockWith((clock) =>
      Effect.sync(() => {
        const nanos = clock.unsafeCurrentTimeNanos()
        span.event(name, nanos, typeof attributes === "function" ? attributes(Number(nanos / 1_000_000n)) : attributes)
      })
    )
  })

/** The policies `withResilience` composes, outermost first (`resilience.policy`). @internal */
export const stackPolicies = "bulkhead,retry,circuit_breaker,timeout"

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Record<string, unknown> => {
  if (Exit.isSuccess(exit)) return { [Attr.outcome]: "success" }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    return { [Attr.outcome]: Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failure" }
  }
  const error = failure.value
  const tag = tagOf(error)
  const outcome = tag === "CircuitOpenError" || tag === "BulkheadRejectedError"
    ? "rejected"
    : tag === "TimeoutError"
    ? "timeout"
    : "failure"
  return { [Attr.outcome]: outcome, [Attr.errorType]: tag }
}

/**
 * One span around a `withResilience` call, named `resilience <service>/<operation>`,
 * with the policy attributes and, at its end, the outcome.
 *
 * @internal
 */
export const withCallSpan = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  service: string,
  operation: string
): Effect.Effect<A, E, R> =>
  Effect.withSpan(
    Effect.onExit(self, (exit) => Effect.annotateCurrentSpan(outcomeOf(exit))),
    `resilience ${service}/${operation}`,
    {
      kind: "internal",
      // the call site's stack trace is Effect's default: an Error per span, most of the span's cost
      captureStackTrace: false,
      attributes: { [Attr.policy]: stackPolicies, [Attr.service]: service, [Attr.operation]: operation }
    }
  )
