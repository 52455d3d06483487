/**
 * Retry implementation. The success path is a bare `Effect.catchAll` (plus
 * one counter increment when a budget is attached): the delay loop, the
 * random draws, the logs and the Schedule state exist only once a call has
 * failed.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { retryAfterOf, tagOf } from "../ResilienceError.js"
import type { RetryBudgetImpl } from "./retryBudget.js"

/** @internal */
export type Jitter = "full" | "equal" | "decorrelated" | "none"

/** @internal */
export interface DelayParameters {
  readonly baseDelayMillis: number
  readonly maxDelayMillis: number
  readonly factor: number
  readonly jitter: Jitter
}

/**
 * The delay before retry number `attempt` (1-based), given the previous delay
 * (decorrelated jitter needs it; pass the base delay for the first retry) and
 * a uniform draw `u` in [0, 1). Never above `maxDelayMillis`.
 *
 * @internal
 */
export const delayFor = (params: DelayParameters, attempt: number, previousDelayMillis: number, u: number): number => {
  const { baseDelayMillis: base, factor, jitter, maxDelayMillis: max } = params
  switch (jitter) {
    case "decorrelated": {
      // AWS "decorrelated jitter": min(cap, uniform[base, previous × 3]).
      const upper = Math.max(base, previousDelayMillis * 3)
      return Math.min(max, base + u * (upper - base))
    }
    case "none":
      return exponential(base, factor, attempt, max)
    case "full":
      return u * exponential(base, factor, attempt, max)
    case "equal": {
      const d = exponential(base, factor, attempt, max)
      return d / 2 + u * (d / 2)
    }
  }
}

const exponential = (base: number, factor: number, attempt: number, max: number): number =>
  Math.min(max, base * Math.pow(factor, attempt - 1))

/** A `retryOn` list: tags and error classes. @internal */
export type RetryOnList = ReadonlyArray<string | (abstract new(...args: ReadonlyArray<any>) => unknown)>

/** @internal */
export const isRetryOnList = (u: unknown): u is RetryOnList =>
  Array.isArray(u) && u.every((item) => typeof item === "string" || typeof item === "function")

/**
 * The predicate of a `retryOn` list: an error's tag (`tagOf`) is listed, or
 * it is an `instanceof` a listed class (so subclasses match).
 *
 * @internal
 */
export const matchAny = (list: RetryOnList): (error: unknown) => boolean => {
  const tags = new Set<string>()
  const classes: Array<abstract new(...args: ReadonlyArray<any>) => unknown> = []
  for (const item of list) {
    if (typeof item === "string") tags.add(item)
    else classes.push(item)
  }
  if (classes.length === 0) return (error) => tags.has(tagOf(error))
  return (error) => {
    if (tags.has(tagOf(error))) return true
    for (const c of classes) {
      if (error instanceof c) return true
    }
    return false
  }
}

/** Why a retry loop stopped retrying an error it could have retried. @internal */
export type GiveUpReason = "exhausted" | "retryAfterBeyondMaxDelay" | "budgetExhausted"

const retryAttempts = Metric.counter("resilience_retry_attempts_total", {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})
const retryGiveUps = Metric.counter("resilience_retry_give_ups_total", {
  description: "Retryable failures returned to the caller without a further retry",
  incremental: true
})
const retryDelays = Metric.histogram(
  "resilience_retry_delay_millis",
  MetricBoundaries.exponential({ start: 10, factor: 2, count: 14 }),
  "Delay applied before each retry, in milliseconds"
)

/** @internal */
export type Strategy =
  | { readonly _tag: "Delays"; readonly maxRetries: number; readonly params: DelayParameters }
  | { readonly _tag: "Schedule"; readonly schedule: Schedule.Schedule<unknown, unknown> }

/** @internal */
export interface Config {
  readonly strategy: Strategy
  readonly maxDelayMillis: number
  readonly retryOn: (error: unknown) => boolean
  readonly budget: RetryBudgetImpl | undefined
  readonly service: string
  readonly operation: string
}

/** @internal */
export const makeExecute = (config: Config) => {
  const { budget, operation, service } = config
  const attempts = Metric.tagged(Metric.tagged(retryAttempts, "service", service), "operation", operation)
  const giveUps = Metric.tagged(Metric.tagged(retryGiveUps, "service", service), "operation", operation)
  const delays = Metric.tagged(Metric.tagged(retryDelays, "service", service), "operation", operation)

  const giveUp = <E>(error: E, attempt: number, reason: GiveUpReason, extra?: Record<string, unknown>) => {
    const errorTag = tagOf(error)
    return Effect.logWarning("Retry: giving up").pipe(
      Effect.annotateLogs({ service, operation, attempt, errorTag, reason, ...extra }),
      Effect.zipRight(Metric.increment(Metric.tagged(Metric.tagged(giveUps, "errorTag", errorTag), "reason", reason))),
      Effect.zipRight(Effect.fail(error))
    )
  }

  const retryLoop = <A, E, R>(self: Effect.Effect<A, E, R>, firstError: E): Effect.Effect<A, E, R> =>
    Effect.gen(function*() {
      let error = firstError
      let attempt = 1 // attempts made so far, all failed
      let previousDelay = config.strategy._tag === "Delays" ? config.strategy.params.baseDelayMillis : 0
      let scheduleState: unknown = config.strategy._tag === "Schedule" ? config.strategy.schedule.initial : undefined
      while (true) {
        if (!config.retryOn(error)) return yield* Effect.fail(error)
        let delay: number
        if (config.strategy._tag === "Delays") {
          const { maxRetries, params } = config.strategy
          if (attempt > maxRetries) return yield* giveUp(error, attempt, "exhausted")
          const u = params.jitter === "none" ? 0 : yield* Random.next
          delay = Math.ceil(delayFor(params, attempt, previousDelay, u))
          previousDelay = delay
        } else {
          const now = yield* Clock.currentTimeMillis
          const [state, , decision] = yield* config.strategy.schedule.step(now, error, scheduleState)
          scheduleState = state
          if (ScheduleDecision.isDone(decision)) return yield* giveUp(error, attempt, "exhausted")
          delay = Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
        }
        // Whole milliseconds, rounded up (timers have no finer grain).
        delay = Math.ceil(delay)
        const retryAfter = retryAfterOf(error)
        if (Option.isSome(retryAfter)) {
          const retryAfterMillis = Duration.toMillis(retryAfter.value)
          // Never sooner than the server asked; and when it asks for more than
          // we are willing to wait, waiting at all is pointless.
          if (retryAfterMillis > config.maxDelayMillis) {
            return yield* giveUp(error, attempt, "retryAfterBeyondMaxDelay", {
              retryAfterMillis,
              maxDelayMillis: config.maxDelayMillis
            })
          }
          if (retryAfterMillis > delay) delay = retryAfterMillis
        }
        if (budget !== undefined) {
          const now = yield* Clock.currentTimeMillis
          if (!budget.unsafeTryAcquire(now)) return yield* giveUp(error, attempt, "budgetExhausted")
        }
        const errorTag = tagOf(error)
        yield* Effect.logWarning("Retry: retrying after failure").pipe(
          Effect.annotateLogs({ service, operation, attempt, delayMillis: delay, errorTag })
        )
        yield* Metric.increment(Metric.tagged(attempts, "errorTag", errorTag))
        yield* Metric.update(delays, delay)
        yield* Effect.sleep(Duration.millis(delay))
        const result = yield* Effect.either(self)
        if (Either.isRight(result)) return result.right
        error = result.left
        attempt++
      }
    })

  const execute = budget === undefined
    ? <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.catchAll(self, (error) => retryLoop(self, error))
    : <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.clockWith((clock) => {
        budget.unsafeRecordCall(clock.unsafeCurrentTimeMillis())
        return Effect.catchAll(self, (error) => retryLoop(self, error))
      })
  internals.set(execute, { budget, retryLoop })
  return execute
}

/** What `Policy`'s fused stack needs of a Retry made here. @internal */
export interface RetryInternals {
  readonly budget: RetryBudgetImpl | undefined
  /** The loop after a first failed attempt: `execute(self)` is `catchAll(self, (e) => retryLoop(self, e))` after counting the call in the budget. */
  readonly retryLoop: <A, E, R>(self: Effect.Effect<A, E, R>, firstError: E) => Effect.Effect<A, E, R>
}

/** Keyed by the `execute` function of each Retry made here. @internal */
export const internals = new WeakMap<object, RetryInternals>()
