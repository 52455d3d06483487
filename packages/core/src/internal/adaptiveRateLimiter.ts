/**
 * The adaptive rate limiter: the pure update rule of its rate (`step`) and
 * the limiter that runs it over a token bucket (GCRA form, as
 * `tokenBucket.ts`) in this process.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as AdaptiveRateLimiter from "../AdaptiveRateLimiter.js"
import * as QuotaHeaders from "../QuotaHeaders.js"
import { RateLimitedError } from "../ResilienceError.js"
import * as schemas from "./options.js"
import * as T from "./telemetry.js"

const POLICY = "AdaptiveRateLimiter"

// ---------------------------------------------------------------------------
// the update rule
// ---------------------------------------------------------------------------

/** @internal */
export const initial = (config: AdaptiveRateLimiter.Config, now: number): AdaptiveRateLimiter.State => ({
  rate: config.initialRate,
  learned: Number.POSITIVE_INFINITY,
  ceiling: Number.POSITIVE_INFINITY,
  ceilingUntil: Number.POSITIVE_INFINITY,
  pausedUntil: now,
  runStart: now,
  runSuccesses: 0
})

const clamp = (rate: number, min: number, max: number): number => rate < min ? min : rate > max ? max : rate

// A server-given wait is honoured within [0, maxPause]; beyond, it is ignored.
const pauseOf = (millis: number | undefined, config: AdaptiveRateLimiter.Config): number | undefined =>
  millis !== undefined && Number.isFinite(millis) && millis >= 0 && millis <= config.maxPauseMillis
    ? millis
    : undefined

// The advertised rate (calls per second) of a quota, and until when it holds.
const advertised = (
  quota: QuotaHeaders.Quota,
  now: number
): { readonly rate: number; readonly until: number } | undefined => {
  let rate = Number.POSITIVE_INFINITY
  let until = Number.POSITIVE_INFINITY
  if (quota.limit !== undefined && quota.windowMillis !== undefined && quota.windowMillis > 0) {
    rate = quota.limit * 1000 / quota.windowMillis
  }
  // what is left, spread over the time to the reset: never more than the server allows until then
  // (nothing left is a pause, not a rate)
  if (
    quota.remaining !== undefined && quota.remaining > 0 && quota.resetMillis !== undefined && quota.resetMillis > 0
  ) {
    const pace = quota.remaining * 1000 / quota.resetMillis
    if (pace < rate) {
      rate = pace
      until = now + quota.resetMillis
    }
  }
  return rate === Number.POSITIVE_INFINITY ? undefined : { rate, until }
}

/** @internal */
export const step = (
  config: AdaptiveRateLimiter.Config,
  state: AdaptiveRateLimiter.State,
  signal: AdaptiveRateLimiter.Signal,
  now: number
): AdaptiveRateLimiter.Step => {
  let { ceiling, ceilingUntil, learned, pausedUntil, rate, runStart, runSuccesses } = state
  let decrease: AdaptiveRateLimiter.DecreaseReason | undefined
  if (now >= ceilingUntil) {
    ceiling = Number.POSITIVE_INFINITY
    ceilingUntil = Number.POSITIVE_INFINITY
  }
  const quota = signal.quota
  if (quota !== undefined) {
    const told = advertised(quota, now)
    if (told !== undefined) {
      // the server's word replaces what was learned, either way, at once
      ceiling = told.rate
      ceilingUntil = told.until
      // the server's quota wins over minRate: going above it only earns 429s
      const next = Math.min(told.rate, config.maxRate)
      if (next < rate) decrease = "headers"
      rate = next
      learned = Number.POSITIVE_INFINITY
    }
    // nothing left: no call until the reset
    const reset = pauseOf(quota.resetMillis, config)
    if (quota.remaining === 0 && reset !== undefined && now + reset > pausedUntil) {
      pausedUntil = now + reset
      runStart = pausedUntil
      runSuccesses = 0
    }
  }
  if (signal.limited) {
    const wasPaused = now < state.pausedUntil
    const after = pauseOf(signal.retryAfterMillis, config)
    // no Retry-After: one interval at the current rate (at most maxPause)
    const pause = after ??
      Math.min(config.maxPauseMillis, Math.max(1000 / rate, now < pausedUntil ? pausedUntil - now : 0))
    // One decrease per episode: the 429s of calls already in flight when the
    // first arrived (while paused) move nothing.
    if (!wasPaused) {
      // The calls the server took since the run began, over the time until it
      // takes more: its quota, exactly for a fixed window entered at its start.
      const elapsed = now - runStart + pause
      const estimate = elapsed > 0 && runSuccesses > 0 ? runSuccesses * 1000 / elapsed : rate
      learned = clamp(Math.min(rate, estimate), config.minRate, config.maxRate)
      rate = clamp(learned * config.decrease, Math.min(config.minRate, ceiling), Math.min(config.maxRate, ceiling))
      decrease = after !== undefined ? "retry_after" : decrease ?? "status_429"
    }
    if (now + pause > pausedUntil) pausedUntil = now + pause
    runStart = pausedUntil
    runSuccesses = 0
  } else if (quota === undefined || advertised(quota, now) === undefined) {
    // Additive increase: back towards the rate found too high, fast while far
    // below it, then a small constant probe (a quota that grew is found).
    const target = Math.min(learned, config.maxRate)
    const recover = rate < target ? config.increase * (target - rate) : 0
    rate = clamp(
      rate + recover + config.probe * target,
      Math.min(config.minRate, ceiling),
      Math.min(config.maxRate, ceiling)
    )
    runSuccesses++
  } else {
    runSuccesses++
  }
  return {
    state: { rate, learned, ceiling, ceilingUntil, pausedUntil, runStart, runSuccesses },
    decrease
  }
}

/** @internal */
export const signalOf = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): AdaptiveRateLimiter.Signal => {
  const quota = QuotaHeaders.quota(headers, now)
  const limited = status === 429
  const retryAfter = limited ? QuotaHeaders.retryAfter(headers["retry-after"], now) : undefined
  return {
    limited,
    ...(retryAfter !== undefined && retryAfter._tag === "Some"
      ? { retryAfterMillis: Duration.toMillis(retryAfter.value) }
      : {}),
    ...(quota === undefined ? {} : { quota })
  }
}

// A failure that says "rate limited": a `_tag` ending in RateLimitedError
// (core's, clients' ProviderRateLimitedError), its `retryAfter` honoured.
const limitedSignal = (error: unknown): AdaptiveRateLimiter.Signal | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const tag = (error as { readonly _tag?: unknown })._tag
  if (typeof tag !== "string" || !tag.endsWith("RateLimitedError")) return undefined
  const after = (error as { readonly retryAfter?: unknown }).retryAfter
  return Duration.isDuration(after) ? { limited: true, retryAfterMillis: Duration.toMillis(after) } : { limited: true }
}

const success: AdaptiveRateLimiter.Signal = { limited: false }

/** @internal */
export const defaultSignal = (exit: Exit.Exit<unknown, unknown>): AdaptiveRateLimiter.Signal | undefined => {
  if (Exit.isSuccess(exit)) return success
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" ? limitedSignal(failure.value) : undefined
}

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

const decodeOptions = schemas.decoder(POLICY, schemas.AdaptiveRateLimiterOptions)

/** @internal */
export const resolveOptions = (options: AdaptiveRateLimiter.Options) =>
  Effect.map(decodeOptions(options), (o): AdaptiveRateLimiter.Config => {
    const minRate = o.minRate ?? o.maxRate / 100
    return {
      name: o.name,
      minRate,
      maxRate: o.maxRate,
      initialRate: clamp(o.initialRate ?? o.maxRate, minRate, o.maxRate),
      burstSize: o.burstSize ?? 1,
      decrease: o.decrease ?? 0.9,
      increase: o.increase ?? 0.02,
      probe: o.probe ?? 0.001,
      maxWaitMillis: Duration.toMillis(o.maxWait ?? Duration.minutes(5)),
      maxPauseMillis: Duration.toMillis(o.maxPause ?? Duration.hours(1))
    }
  })

// ---------------------------------------------------------------------------
// telemetry
// ---------------------------------------------------------------------------

const rateKey = T.learnedRate
const decreasesKey = T.learnedRateDecreases

/** @internal */
export const learnedRate = Metric.fromMetricKey(rateKey)
/** @internal */
export const decreasesTotal = Metric.fromMetricKey(decreasesKey)

// ---------------------------------------------------------------------------
// the limiter
// ---------------------------------------------------------------------------

/** @internal */
export const make = (
  config: AdaptiveRateLimiter.Config,
  now: number
): AdaptiveRateLimiter.AdaptiveRateLimiter => {
  const { burstSize, maxWaitMillis, name } = config
  const labels = T.baseLabels("adaptive_rate_limiter", name, "")
  const gauge = T.taggedGauge(rateKey, labels)
  const decreaseCounters = {
    status_429: T.taggedCounter(decreasesKey, [...labels, MetricLabel.make("reason", "status_429")]),
    retry_after: T.taggedCounter(decreasesKey, [...labels, MetricLabel.make("reason", "retry_after")]),
    headers: T.taggedCounter(decreasesKey, [...labels, MetricLabel.make("reason", "headers")])
  }

  let state = initial(config, now)
  // the bucket: the time it is full again (GCRA), at the current rate
  let tat = now
  // bumped when a pause starts: reservations made before it are remade after it
  let generation = 0
  // the rate last reported (gauge, log): a change smaller than 10% is not news
  let reported = Number.NaN
  let gauged = Number.NaN

  const report = (
    previous: AdaptiveRateLimiter.State,
    decrease: AdaptiveRateLimiter.DecreaseReason | undefined,
    at: number
  ): Effect.Effect<void> | undefined => {
    const rate = state.rate
    const effects: Array<Effect.Effect<void>> = []
    if (decrease !== undefined) effects.push(Metric.increment(decreaseCounters[decrease]))
    // the gauge follows moves of 1% and more (not every success's small probe)
    if (Number.isNaN(gauged) || Math.abs(rate - gauged) >= gauged * 0.01) {
      gauged = rate
      effects.push(Metric.set(gauge, rate))
    }
    const news = Number.isNaN(reported) || Math.abs(rate - reported) >= reported * 0.1 ||
      (decrease !== undefined && state.pausedUntil > previous.pausedUntil)
    if (news) {
      const from = reported
      reported = rate
      const attributes = {
        [T.Attr.adaptiveRateLimiterName]: name,
        [T.Attr.adaptiveRateLimiterRate]: rate,
        [T.Attr.adaptiveRateLimiterReason]: decrease ?? "increase"
      }
      effects.push(
        T.event(T.Event.learnedRateChanged, attributes),
        Effect.annotateLogs(
          // info only when the provider refused calls; following its headers is routine (debug)
          decrease === undefined
            ? Effect.logDebug("adaptive rate limiter: learned rate rose")
            : decrease === "headers"
            ? Effect.logDebug("adaptive rate limiter: rate set by the provider's quota headers")
            : Effect.logInfo("adaptive rate limiter: learned rate lowered"),
          {
            limiter: name,
            ratePerSecond: rate,
            previousRatePerSecond: Number.isNaN(from) ? previous.rate : from,
            reason: decrease ?? "increase",
            pausedForMillis: Math.max(0, state.pausedUntil - at)
          }
        )
      )
    }
    return effects.length === 0 ? undefined : effects.length === 1 ? effects[0] : Effect.all(effects, { discard: true })
  }

  // The state moves synchronously; what is left to do (metrics, a log line) is returned, if anything.
  const observeAt = (signal: AdaptiveRateLimiter.Signal, at: number): Effect.Effect<void> | undefined => {
    const previous = state
    const next = step(config, previous, signal, at)
    state = next.state
    if (state.pausedUntil > previous.pausedUntil) {
      // a pause starts: the bucket restarts after it, and waiters re-reserve
      generation++
      tat = state.pausedUntil
    }
    return report(previous, next.decrease, at)
  }

  const observe = (signal: AdaptiveRateLimiter.Signal): Effect.Effect<void> =>
    Effect.clockWith((clock) => observeAt(signal, clock.unsafeCurrentTimeMillis()) ?? Effect.void)

  // The wait for a token, reserved; -1 when it would exceed maxWait (then its retryAfter).
  let lastRetryAfter = 0
  const reserve = (at: number): number => {
    const interval = 1000 / state.rate
    const full = tat < at ? at : tat
    let actAt = full + (1 - burstSize) * interval
    if (actAt < state.pausedUntil) actAt = state.pausedUntil
    if (actAt < at) actAt = at
    const wait = actAt - at
    if (wait > maxWaitMillis) {
      lastRetryAfter = wait
      return -1
    }
    tat = (full > actAt ? full : actAt) + interval
    return wait
  }

  const rejected = (): RateLimitedError =>
    new RateLimitedError({
      key: name,
      policy: "client",
      retryAfter: Duration.millis(Math.ceil(lastRetryAfter)),
      limit: burstSize,
      remaining: 0
    }, true)

  // Sleep for a reservation; a pause that began during the sleep voids it:
  // take a new one after it. An interrupted waiter hands its slot back when
  // nobody reserved after it (otherwise the slot stays spent: handing it out
  // again could let two calls through closer than the rate).
  const sleepFor = (wait: number): Effect.Effect<void, RateLimitedError> => {
    const reservedIn = generation
    const reservedTat = tat
    const interval = 1000 / state.rate
    return Effect.flatMap(
      Effect.onInterrupt(Effect.sleep(Duration.millis(wait)), () =>
        Effect.sync(() => {
          if (generation === reservedIn && tat === reservedTat) tat -= interval
        })),
      () => generation === reservedIn ? Effect.void : acquire
    )
  }

  const acquire: Effect.Effect<void, RateLimitedError> = Effect.clockWith((clock) => {
    const wait = reserve(clock.unsafeCurrentTimeMillis())
    return wait < 0 ? Effect.fail(rejected()) : wait === 0 ? Effect.void : sleepFor(wait)
  })

  // The success path: one clock read for the token, the call, one for its
  // signal; the state moves in place and nothing else runs unless the rate
  // moved enough to report. An interrupted call says nothing about the quota.
  const execute = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: AdaptiveRateLimiter.ExecuteOptions<A, E> | undefined
  ): Effect.Effect<A, E | RateLimitedError, R> => {
    const signalOf = options?.signal
    return Effect.clockWith((clock) => {
      const wait = reserve(clock.unsafeCurrentTimeMillis())
      if (wait < 0) return Effect.fail(rejected())
      const run = Effect.matchCauseEffect(self, {
        onFailure: (cause) => {
          const signal = signalOf === undefined ? defaultSignal(Exit.failCause(cause)) : signalOf(Exit.failCause(cause))
          const effect = signal === undefined ? undefined : observeAt(signal, clock.unsafeCurrentTimeMillis())
          return effect === undefined ? Effect.failCause(cause) : Effect.zipRight(effect, Effect.failCause(cause))
        },
        onSuccess: (a) => {
          const signal = signalOf === undefined ? success : signalOf(Exit.succeed(a))
          const effect = signal === undefined ? undefined : observeAt(signal, clock.unsafeCurrentTimeMillis())
          return effect === undefined ? Effect.succeed(a) : Effect.as(effect, a)
        }
      })
      return wait === 0 ? run : Effect.zipRight(sleepFor(wait), run)
    })
  }

  return {
    name,
    config,
    acquire,
    observe,
    execute,
    state: Effect.sync(() => state),
    rate: Effect.sync(() => state.rate)
  }
}
