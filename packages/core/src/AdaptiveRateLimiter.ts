/**
 * A client-side rate limiter that learns a provider's quota from its answers,
 * for a quota that is undocumented, shared with others, or changed since it
 * was written down.
 *
 * Calls pass a token bucket whose rate moves within `[minRate, maxRate]`:
 *
 * - **additive increase** while calls succeed: back towards the rate last
 *   found too high (fast while far below it), then a small constant probe, so
 *   a quota that grew is found again;
 * - **multiplicative decrease** on a rate-limited answer (a 429, or a failure
 *   whose `_tag` ends in `RateLimitedError`): the rate drops below the lower
 *   of the rate that was too high and the calls the provider took since the
 *   last pause over the time until it takes more (exact for a fixed window),
 *   times `decrease`. One decrease per episode: the 429s of calls already in
 *   flight move nothing;
 * - **`Retry-After` honoured**: no call until then (every waiter, even one
 *   whose token was due sooner);
 * - **advertised quotas honoured** (`RateLimit` / `RateLimit-Policy`,
 *   `X-RateLimit-*`, read by `QuotaHeaders`): the rate converges at once, from
 *   the first response that states a quota, to `limit / window` or to the
 *   calls remaining spread over the time to the reset, whichever is lower, and
 *   never rises above it while it holds; `remaining = 0` waits for the reset.
 *
 * `maxRate` is a hard ceiling: give it the provider's documented quota, and
 * the learned rate can only be lower. The rule is one pure function, `step`
 * (state, signal, now → state), which the limiter runs on the fiber's `Clock`.
 *
 * Reach for it for an outbound quota you do not know or do not trust; for a
 * quota you know and own (a server's), use `RateLimiter`.
 *
 * @example
 * ```ts
 * import { AdaptiveRateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   // at most 5 calls a second; less if the provider says so
 *   const limiter = yield* AdaptiveRateLimiter.make({ name: "quotes", maxRate: 5 })
 *   const quote = yield* limiter.execute(Effect.succeed({ status: 200, price: 101.5 }), {
 *     // what the call says about the quota: here only its status
 *     signal: (exit) =>
 *       exit._tag === "Success" ? { limited: exit.value.status === 429 } : undefined
 *   })
 *   yield* Effect.log(quote.price, yield* limiter.rate)
 * })
 * ```
 *
 * @since 0.3.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Metric from "effect/Metric"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/adaptiveRateLimiter.js"
import * as schemas from "./internal/options.js"
import type * as QuotaHeaders from "./QuotaHeaders.js"
import type { InvalidOptionsError, RateLimitedError } from "./ResilienceError.js"

/**
 * Options, validated once by `make`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** Names the limiter in metrics (`service`), logs and errors: 1-256 printable characters. */
  readonly name: string
  /** The highest rate, calls per second (> 0): the documented quota when there is one. */
  readonly maxRate: number
  /**
   * The lowest rate, calls per second, in (0, maxRate]: however many 429s, a
   * call is let through at least this often (outside a server-given pause).
   *
   * @default maxRate / 100
   */
  readonly minRate?: number | undefined
  /**
   * The rate before anything is learned, in [minRate, maxRate].
   *
   * @default maxRate
   */
  readonly initialRate?: number | undefined
  /**
   * Calls that may go back to back after a quiet time (an integer >= 1).
   *
   * @default 1
   */
  readonly burstSize?: number | undefined
  /**
   * Multiplicative decrease on a rate-limited answer, in (0, 1).
   *
   * @default 0.9
   */
  readonly decrease?: number | undefined
  /**
   * Additive increase: the share of the gap to the rate last found too high
   * closed by each success, in (0, 1].
   *
   * @default 0.02
   */
  readonly increase?: number | undefined
  /**
   * The probe: each success adds this share of that rate (or of `maxRate`
   * before any 429), in [0, 1); 0 never probes above it.
   *
   * @default 0.001
   */
  readonly probe?: number | undefined
  /**
   * The longest a call waits for its token; one that would wait longer fails
   * at once with `RateLimitedError` (its `retryAfter` the wait it was due).
   *
   * @default "5 minutes"
   */
  readonly maxWait?: Duration.DurationInput | undefined
  /**
   * The longest server-given pause honoured (`Retry-After`, a reset with
   * nothing remaining); a longer one is ignored, as a hostile or broken value
   * (the decrease still applies).
   *
   * @default "1 hour"
   */
  readonly maxPause?: Duration.DurationInput | undefined
}

/**
 * Options after validation and defaults (times in milliseconds: the unit of
 * `step`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Config {
  readonly name: string
  readonly minRate: number
  readonly maxRate: number
  readonly initialRate: number
  readonly burstSize: number
  readonly decrease: number
  readonly increase: number
  readonly probe: number
  readonly maxWaitMillis: number
  readonly maxPauseMillis: number
}

/**
 * The limiter's learned state. Rates are calls per second, instants epoch
 * milliseconds of the limiter's `Clock`.
 *
 * @since 0.3.0
 * @category models
 */
export interface State {
  /** The current rate, in [minRate, maxRate] and never above `ceiling`. */
  readonly rate: number
  /** The rate last found too high (`Infinity`: none yet, or the server stated its quota). */
  readonly learned: number
  /** The rate the server advertised (`Infinity`: none), holding until `ceilingUntil`. */
  readonly ceiling: number
  readonly ceilingUntil: number
  /** No call before this instant (`Retry-After`, or a reset with nothing remaining). */
  readonly pausedUntil: number
  /** When the current run of calls began (the end of the last pause) and its successes: the quota estimate. */
  readonly runStart: number
  readonly runSuccesses: number
}

/**
 * What one answer says about the quota. Built by `signalOf` from an HTTP
 * response, by the default of `execute` from a call's exit, or by you.
 *
 * @since 0.3.0
 * @category models
 */
export interface Signal {
  /** The provider refused the call for its rate (a 429). */
  readonly limited: boolean
  /** The provider's `Retry-After`, in milliseconds. */
  readonly retryAfterMillis?: number | undefined
  /** The quota the response's headers advertise. */
  readonly quota?: QuotaHeaders.Quota | undefined
}

/**
 * Why the rate went down: a 429 without `Retry-After`, a 429 with one, or an
 * advertised quota below the rate.
 *
 * @since 0.3.0
 * @category models
 */
export type DecreaseReason = "status_429" | "retry_after" | "headers"

/**
 * The outcome of `step`: the next state and, when the rate went down, why.
 *
 * @since 0.3.0
 * @category models
 */
export interface Step {
  readonly state: State
  readonly decrease: DecreaseReason | undefined
}

/**
 * Per-call options of `execute`.
 *
 * @since 0.3.0
 * @category models
 */
export interface ExecuteOptions<A, E> {
  /**
   * What the call's exit says about the quota (`undefined`: nothing, e.g. a
   * transport error). The default: a success is a success, a failure whose
   * `_tag` ends in `RateLimitedError` is rate-limited (its `retryAfter`
   * honoured), anything else says nothing.
   */
  readonly signal?: ((exit: Exit.Exit<A, E>) => Signal | undefined) | undefined
}

/**
 * An adaptive rate limiter, as `make` returns it.
 *
 * @since 0.3.0
 * @category models
 */
export interface AdaptiveRateLimiter {
  readonly name: string
  readonly config: Config
  /**
   * Wait for a token at the current rate (and past any pause); fails with
   * `RateLimitedError` when the wait would exceed `maxWait`. Interrupting
   * the wait is safe. Pair it with `observe` when the answer arrives
   * elsewhere (an HTTP client's response hook).
   */
  readonly acquire: Effect.Effect<void, RateLimitedError>
  /** Feed one answer to the rule, at the Clock's time. */
  readonly observe: (signal: Signal) => Effect.Effect<void>
  /** `acquire`, run `self`, and `observe` what its exit says. */
  readonly execute: <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: ExecuteOptions<A, E> | undefined
  ) => Effect.Effect<A, E | RateLimitedError, R>
  /** The learned state now. */
  readonly state: Effect.Effect<State>
  /** The current rate, calls per second. */
  readonly rate: Effect.Effect<number>
}

/**
 * The data rules of `Options`: `name` 1-256 printable characters, rates
 * finite and > 0 with `minRate <= initialRate <= maxRate`, `burstSize` an
 * integer >= 1, `decrease` in (0, 1), `increase` in (0, 1], `probe` in
 * [0, 1), `maxWait` and `maxPause` finite durations > 0. `make` reports the
 * first issue as an `InvalidOptionsError` naming the option.
 *
 * @since 0.3.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<Schema.Schema.Type<typeof schemas.AdaptiveRateLimiterOptions>, Options> =
  schemas.AdaptiveRateLimiterOptions

/**
 * Validate options (an `InvalidOptionsError` naming the option) into a `Config`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const config: (options: Options) => Effect.Effect<Config, InvalidOptionsError> = internal.resolveOptions

/**
 * The state before anything is learned: `initialRate`, no pause, no ceiling.
 *
 * @since 0.3.0
 * @category rule
 */
export const initial: (config: Config, now: number) => State = internal.initial

/**
 * The update rule, pure: the state after one answer at `now` (epoch millis).
 * The rate stays within `[minRate, maxRate]` and, while an advertised quota
 * holds, at or below it.
 *
 * @example
 * ```ts
 * import { AdaptiveRateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const config = Effect.runSync(AdaptiveRateLimiter.config({ name: "sim", maxRate: 10 }))
 * let state = AdaptiveRateLimiter.initial(config, 0)
 * state = AdaptiveRateLimiter.step(config, state, { limited: true, retryAfterMillis: 2_000 }, 1_000).state
 * state.rate // 9: one decrease (× 0.9)
 * state.pausedUntil // 3_000
 * ```
 *
 * @since 0.3.0
 * @category rule
 */
export const step: (config: Config, state: State, signal: Signal, now: number) => Step = internal.step

/**
 * The signal of an HTTP response: 429 is rate-limited (with its
 * `Retry-After`), and any status carries the quota its headers advertise.
 * `headers` are keyed by lower-case names (`HttpClientResponse.headers`).
 *
 * @since 0.3.0
 * @category signals
 */
export const signalOf: (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  now: number
) => Signal = internal.signalOf

/**
 * The current rate of each adaptive limiter, calls per second: a gauge
 * `resilience_learned_rate` tagged `policy="adaptive_rate_limiter"` and
 * `service` (the limiter's name).
 *
 * @since 0.3.0
 * @category metrics
 */
export const learnedRate: Metric.Metric.Gauge<number> = internal.learnedRate

/**
 * Decreases of the rate: a counter `resilience_learned_rate_decreases_total`
 * tagged `reason` (`status_429`, `retry_after`, `headers`).
 *
 * @since 0.3.0
 * @category metrics
 */
export const decreasesTotal: Metric.Metric.Counter<number> = internal.decreasesTotal

/**
 * Validate options and build a limiter, its state in this process (one per
 * provider quota; share the value between the callers of that quota). Its
 * rate changes are logged once each change worth knowing (a decrease with a
 * pause, or a move of 10% and more: info when a refusal lowered it, debug
 * when it rose or followed the provider's headers), recorded
 * on the current span (`resilience.adaptive_rate_limiter.rate_changed`) and
 * in `learnedRate`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<AdaptiveRateLimiter, InvalidOptionsError> =>
  Effect.flatMap(
    internal.resolveOptions(options),
    (resolved) =>
      Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => internal.make(resolved, now))
  )
