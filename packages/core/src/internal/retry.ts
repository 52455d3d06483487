/**
 * Retry implementation: the strategies as Schedules (`delays`, `bounded`),
 * what a Retry adds to any schedule through its input (`guard`: which
 * errors, Retry-After), and the policy that drives such a schedule.
 *
 * The policy's success path is a bare `Effect.catchAll` (plus one counter
 * increment when a budget is attached): the schedule's state, the random
 * draws and the logs exist only once a call has failed.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { retryAfterOf, tagOf } from "../ResilienceError.js"
import type { RetryBudgetImpl } from "./retryBudget.js"
import * as T from "./telemetry.js"

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

// ---------------------------------------------------------------------------
// the schedules
// ---------------------------------------------------------------------------

/**
 * The strategies' delays as a Schedule whose output is the delay in whole
 * milliseconds (rounded up: timers have no finer grain), recurring forever:
 * `delayFor` of a fresh draw from `Random` for each retry. Decorrelated
 * jitter needs the previous delay, so it keeps it as its state (the one
 * strategy that needs a step of its own); the others map `Schedule.forever`'s
 * recurrence count.
 *
 * @internal
 */
export const delays = (params: DelayParameters): Schedule.Schedule<number> => {
  const draw = params.jitter === "none" ? Effect.succeed(0) : Random.next
  const millis = params.jitter === "decorrelated"
    ? Schedule.makeWithState(params.baseDelayMillis, (now, _: unknown, previous: number) =>
      Effect.map(draw, (u) => {
        const delay = Math.ceil(delayFor(params, 1, previous, u)) // (the attempt number plays no part here)
        return [delay, delay, ScheduleDecision.continueWith(ScheduleInterval.after(now))] as const
      }))
    : Schedule.mapEffect(
      Schedule.forever,
      (n) => Effect.map(draw, (u) => Math.ceil(delayFor(params, n + 1, params.baseDelayMillis, u)))
    )
  return Schedule.addDelay(millis, Duration.millis)
}

/**
 * `delays` for at most `maxRetries` retries.
 *
 * @internal
 */
export const bounded = (params: DelayParameters, maxRetries: number): Schedule.Schedule<number> =>
  Schedule.map(Schedule.intersect(delays(params), Schedule.recurs(maxRetries)), ([delay]) => delay)

/** The `retryAfter` an error carries, in milliseconds; -1 when none. */
const retryAfterMillis = (error: unknown): number => {
  const retryAfter = retryAfterOf(error)
  return Option.isSome(retryAfter) ? Duration.toMillis(retryAfter.value) : -1
}

/**
 * What a Retry adds to a schedule of delays, through the schedule's input
 * (the error): it stops on an error `retryOn` does not select and on one
 * whose `retryAfter` exceeds `maxRetryAfterMillis` (waiting at all is pointless
 * when the server asks for longer than we are willing to wait), and it
 * waits at least that `retryAfter` (never sooner than the server asked).
 * The output is the last error.
 *
 * @internal
 */
export const guard = <Out, R>(
  schedule: Schedule.Schedule<Out, unknown, R>,
  retryOn: (error: unknown) => boolean,
  maxRetryAfterMillis: number
): Schedule.Schedule<unknown, unknown, R> =>
  schedule.pipe(
    Schedule.whileInput((error: unknown) => retryOn(error) && retryAfterMillis(error) <= maxRetryAfterMillis),
    Schedule.passthrough,
    Schedule.modifyDelay((error, delay) => {
      const millis = Math.ceil(Duration.toMillis(delay))
      const after = retryAfterMillis(error)
      return Duration.millis(after > millis ? after : millis)
    })
  )

// ---------------------------------------------------------------------------
// the policy
// ---------------------------------------------------------------------------

/** @internal */
export interface Config {
  /** `guard`ed: it decides every retry and its delay. */
  readonly schedule: Schedule.Schedule<unknown, unknown>
  /** The retries `schedule` allows, when known (to name why it stopped). */
  readonly maxRetries: number | undefined
  readonly maxDelayMillis: number
  readonly maxRetryAfterMillis: number
  readonly onRetry:
    | ((event: { attempt: number; error: unknown; delay: Duration.Duration }) => Effect.Effect<void>)
    | undefined
  readonly retryOn: (error: unknown) => boolean
  readonly budget: RetryBudgetImpl | undefined
  readonly service: string
  readonly operation: string
}

/**
 * The shortest time between two "giving up" warnings of one Retry policy
 * (the give-ups in between are logged at Debug and counted in the next
 * warning).
 *
 * @internal
 */
export const GIVE_UP_WARNING_INTERVAL_MILLIS = 10_000

/**
 * The policy's `execute`: `Effect.catchAll` on the success path; after a
 * failure, the loop `Effect.retry` would run with `config.schedule` (step
 * it with the error, sleep until the decision's start, try again), plus
 * what the policy adds: the budget, a log line and metrics per retry.
 *
 * @internal
 */
export const makeExecute = (config: Config) => {
  const { budget, maxDelayMillis, maxRetries, maxRetryAfterMillis, onRetry, operation, schedule, service } = config
  const labels = T.baseLabels("retry", service, operation)
  const attempts = Metric.fromMetricKey(MetricKey.taggedWithLabels(T.retryAttempts, labels))
  const giveUps = Metric.fromMetricKey(MetricKey.taggedWithLabels(T.retryGiveUps, labels))
  const delays = T.taggedHistogram(T.retryDelay, labels)
  const budgetLabels = T.baseLabels("retry_budget", service, operation)

  // During an outage every call gives up: one warning per call would flood the logs. The first give-up warns, then
  // at most one warning per GIVE_UP_WARNING_INTERVAL_MILLIS (on the fiber's Clock) carries how many gave up
  // quietly (at Debug) since the last one; the metric still counts every give-up.
  let lastWarningAt = Number.NEGATIVE_INFINITY
  let quietGiveUps = 0
  const giveUpLog = (annotations: Record<string, unknown>) =>
    Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      if (now - lastWarningAt < GIVE_UP_WARNING_INTERVAL_MILLIS) {
        quietGiveUps++
        return Effect.annotateLogs(Effect.logDebug("Retry: giving up"), annotations)
      }
      const quiet = quietGiveUps
      lastWarningAt = now
      quietGiveUps = 0
      return Effect.annotateLogs(
        Effect.logWarning("Retry: giving up"),
        quiet === 0 ? annotations : { ...annotations, quietGiveUpsSinceLastWarning: quiet }
      )
    })

  const giveUp = <E>(error: E, attempt: number, reason: GiveUpReason, extra?: Record<string, unknown>) => {
    const errorTag = tagOf(error)
    return giveUpLog({ service, operation, attempt, errorTag, reason, ...extra }).pipe(
      Effect.zipRight(
        Metric.increment(Metric.tagged(Metric.tagged(giveUps, "error_type", errorTag), "reason", reason))
      ),
      Effect.zipRight(
        reason === "budgetExhausted"
          ? Metric.increment(T.taggedCounter(T.retryBudgetExhausted, budgetLabels))
          : Effect.void
      ),
      Effect.zipRight(T.event(T.Event.retryGiveUp, {
        [T.Attr.retryAttempt]: attempt,
        [T.Attr.retryReason]: reason,
        [T.Attr.errorType]: errorTag
      })),
      Effect.zipRight(Effect.fail(error))
    )
  }

  // The schedule said no to a selected error: out of retries, or a
  // retryAfter beyond maxRetryAfter (out of retries is named first, as it
  // is the schedule's first check).
  const stopped = <E>(error: E, attempt: number) => {
    const retryAfter = retryAfterMillis(error)
    return retryAfter > maxRetryAfterMillis && (maxRetries === undefined || attempt <= maxRetries)
      ? giveUp(error, attempt, "retryAfterBeyondMaxDelay", {
        retryAfterMillis: retryAfter,
        maxDelayMillis,
        maxRetryAfterMillis
      })
      : giveUp(error, attempt, "exhausted")
  }

  const retryLoop = <A, E, R>(self: Effect.Effect<A, E, R>, firstError: E): Effect.Effect<A, E, R> =>
    Effect.gen(function*() {
      let error = firstError
      let attempt = 1 // attempts made so far, all failed
      let state = schedule.initial
      while (true) {
        // not selected: the caller's error, as is, without a word
        if (!config.retryOn(error)) return yield* Effect.fail(error)
        const now = yield* Clock.currentTimeMillis
        const [next, , decision] = yield* schedule.step(now, error, state)
        state = next
        if (ScheduleDecision.isDone(decision)) return yield* stopped(error, attempt)
        const delay = ScheduleIntervals.start(decision.intervals) - now
        if (budget !== undefined && !budget.unsafeTryAcquire(now)) {
          return yield* giveUp(error, attempt, "budgetExhausted")
        }
        const errorTag = tagOf(error)
        // Debug: during an outage every call retries, so a line per retry at WARN would flood the logs (a
        // retry storm is what the metrics are for); giving up, which the caller sees, stays a warning.
        yield* Effect.logDebug("Retry: retrying after failure").pipe(
          Effect.annotateLogs({ service, operation, attempt, delayMillis: delay, errorTag })
        )
        yield* Metric.increment(Metric.tagged(attempts, "error_type", errorTag))
        yield* Metric.update(delays, delay / 1000)
        yield* T.event(T.Event.retry, {
          [T.Attr.retryAttempt]: attempt,
          [T.Attr.retryDelayMs]: delay,
          [T.Attr.errorType]: errorTag
        })
        if (onRetry !== undefined) yield* onRetry({ attempt, error, delay: Duration.millis(delay) })
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
