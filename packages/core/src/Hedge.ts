/**
 * Hedging (Polly v8's hedging strategy, resilience4j-hedge, gRPC's
 * `hedgingPolicy`): when a call is slow, start another attempt of it
 * without cancelling the first; the first success wins and the others are
 * interrupted (an HTTP request is aborted). It trades a little extra load
 * for a shorter tail: the p99 of a read becomes roughly the p-delay of two.
 *
 * Reach for it on **idempotent** reads with a long latency tail (quotes,
 * bars, lookups). Never on an order: a hedged order is two orders.
 *
 * - **Idempotent only.** `idempotent` defaults to `false`, and then
 *   `execute` runs the call exactly once, like no policy at all: a hedge
 *   must be asked for, per policy, by whoever knows the operation is safe
 *   to run twice.
 * - **When.** The next attempt starts `delay` after the previous one (a
 *   fixed `Duration`; `0` sends them all at once), or after a percentile of
 *   the latencies of recent successful attempts (`{ percentile: 95, initial,
 *   window, minSamples }`; `initial` until `minSamples` latencies are
 *   known). An attempt that **fails** starts the next one at once.
 * - **How many.** At most `maxHedgedAttempts` attempts besides the primary
 *   (default 1, at most 10). When every attempt failed, the call fails with
 *   the last failure (its type unchanged): a hedge adds no error.
 * - **Losers.** Interrupted in the background as soon as one attempt
 *   succeeds (the caller does not wait for their finalizers). If the caller
 *   is interrupted, every attempt is interrupted and awaited.
 *
 * **Where it sits: outermost,
 * `Hedge(Bulkhead(Retry(CircuitBreaker(Timeout(call)))))`** (what
 * `Policy.stack` builds). Each attempt is a whole call through the stack:
 * it takes its own bulkhead permit (hedges count toward `maxConcurrent`, and
 * a full bulkhead rejects a hedge instead of exceeding its bound), passes
 * through the breaker (each failed attempt counts; an Open breaker rejects
 * a hedge at once without sending it) and has its own timeout. Inside the
 * bulkhead, hedges would multiply the requests one permit stands for; inside
 * the breaker, one failed call would count once however many requests it
 * sent. The price: each attempt may retry, so a call sends at most
 * `(maxHedgedAttempts + 1) × (maxRetries + 1)` requests.
 *
 * **Cost.** The primary starts synchronously in a child fiber (as in
 * `Timeout`): when it completes without suspending, nothing else happens —
 * no queue, no timer, no second fiber, no metric and no span event.
 *
 * **Observability** (the scheme of `Observability`; `policy` `hedge`,
 * `service` the hedge's `name`), in the slow path only:
 * `resilience_hedge_attempts_total` (hedged attempts started) and
 * `resilience_hedge_wins_total` (`outcome`: `primary`, `hedge`, `none`:
 * every attempt failed); on the current span, if one is open, the events
 * `resilience.hedge.attempt_started` (the attempt's index, the hedging
 * delay, its trigger: `delay` or `failure`) and `resilience.hedge.settled`
 * (the winner).
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/hedge.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * @since 0.2.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * A hedging delay that follows recent latencies.
 *
 * @since 0.2.0
 * @category models
 */
export interface PercentileDelay {
  /** The percentile of recent successful attempts' latencies, in (0, 100). */
  readonly percentile: number
  /** The delay until `minSamples` latencies are known: a finite `Duration` >= 0. */
  readonly initial: Duration.DurationInput
  /**
   * How many recent latencies are kept, in [1, 10000].
   * @default 100
   */
  readonly window?: number | undefined
  /**
   * Latencies needed before the percentile is used (<= window).
   * @default min(20, window)
   */
  readonly minSamples?: number | undefined
}

/**
 * Options of `Hedge.make`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The delay before each further attempt: a finite `Duration` >= 0, or a percentile of recent latencies. */
  readonly delay: Duration.DurationInput | PercentileDelay
  /**
   * Attempts started besides the primary one, in [0, 10].
   * @default 1
   */
  readonly maxHedgedAttempts?: number | undefined
  /**
   * The operations this policy guards may run more than once. Without it,
   * nothing is ever hedged.
   * @default false
   */
  readonly idempotent?: boolean | undefined
  /**
   * The `service` label of its metrics and the name in its span events.
   * @default "hedge"
   */
  readonly name?: string | undefined
}

/**
 * A hedging policy.
 *
 * @since 0.2.0
 * @category models
 */
export interface Hedge {
  readonly name: string
  /** `false`: `execute` never hedges. */
  readonly idempotent: boolean
  readonly maxHedgedAttempts: number
  /** The delay the next call would hedge after (fixed, or the current percentile). */
  readonly currentDelay: Effect.Effect<Duration.Duration>
  /** Runs `self`, hedged when `idempotent`; adds no error. */
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * The data rules of `Options`, decoded by `make`: `delay` a finite duration
 * >= 0 or a `PercentileDelay` (percentile in (0, 100), `window` an integer in
 * [1, 10000], `minSamples` an integer >= 1 and <= window),
 * `maxHedgedAttempts` an integer in [0, 10], `idempotent` a boolean, `name` a
 * printable name.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<internal.DecodedOptions, internal.EncodedOptions> = internal.OptionsSchema

/**
 * Builds a hedging policy. Fails with `InvalidOptionsError` naming the
 * option.
 *
 * @example
 * ```ts
 * import { Hedge } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const getQuote = Effect.succeed({ symbol: "AAPL", price: 189.5 })
 *
 * const program = Effect.gen(function*() {
 *   const hedge = yield* Hedge.make({
 *     delay: { percentile: 95, initial: "200 millis" },
 *     maxHedgedAttempts: 1,
 *     idempotent: true // a quote may be fetched twice; an order may not
 *   })
 *   return yield* hedge.execute(getQuote)
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Hedge, InvalidOptionsError> =>
  Effect.map(internal.decode(options), (decoded) => {
    const name = decoded.name ?? "hedge"
    const idempotent = decoded.idempotent ?? false
    const maxHedgedAttempts = decoded.maxHedgedAttempts ?? 1
    const delay = decoded.delay
    let delayMillis: () => number
    let record: (millis: number) => void
    if (Duration.isDuration(delay)) {
      const millis = Duration.toMillis(delay)
      delayMillis = () => millis
      record = () => {}
    } else {
      const size = delay.window ?? 100
      const window = new internal.LatencyWindow(
        size,
        delay.percentile,
        delay.minSamples ?? Math.min(20, size),
        Duration.toMillis(delay.initial)
      )
      delayMillis = () => window.delayMillis()
      record = (millis) => window.record(millis)
    }
    const execute = idempotent && maxHedgedAttempts > 0
      ? internal.makeExecute({ name, maxAttempts: maxHedgedAttempts + 1, delayMillis, record })
      : <A, E, R>(self: Effect.Effect<A, E, R>) => self
    return {
      name,
      idempotent,
      maxHedgedAttempts,
      currentDelay: Effect.sync(() => Duration.millis(delayMillis())),
      execute
    }
  })

/**
 * Runs an effect under a hedging policy: `Hedge.withHedge(effect, hedge)` or
 * `effect.pipe(Hedge.withHedge(hedge))`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const withHedge: {
  (hedge: Hedge): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge): Effect.Effect<A, E, R> => hedge.execute(self))
