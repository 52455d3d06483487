/**
 * Token-bucket rate limiting, keyed per client and globally, in two modes.
 *
 * - `fail` (servers): a call over the limit is rejected at once with
 *   `RateLimitedError { key, policy, retryAfter, limit, remaining }`.
 * - `wait` (clients of a quota'd provider): a call over the limit reserves
 *   its tokens and sleeps until they are due, up to `maxWait`; callers are
 *   served in arrival order, and an interrupted waiter gives its reservation
 *   back.
 *
 * Each bucket refills at `tokensPerSecond` up to `burstSize`; a call costs
 * `cost` tokens (default 1) and must pass both its client's bucket and the
 * optional global bucket: a call rejected by either is charged to neither.
 * Every decision reports `{ allowed, limit, remaining, resetAfter,
 * retryAfter }` (`Duration`s, exact to the millisecond), enough for exact
 * `RateLimit` / `Retry-After` headers.
 *
 * A limiter may also take `windows`, a provider's multi-window quota ("5 per
 * minute and 25 per day"): fixed windows aligned to the Unix epoch, each
 * admitting at most `limit` calls, decided with the buckets in one atomic,
 * all-or-nothing step (see `RateLimiterStore`'s "Windows" for the exact
 * guarantee). A decision then reports the window that decided (`window`).
 *
 * Buckets live in a `RateLimiterStore`: `RateLimiterStore.layerMemory`
 * (bounded, in this process) or the Redis store of `@effect-resilience/redis`
 * (shared by a fleet). Client keys of any length and character set are safe:
 * short printable keys are used as they are, others are hashed.
 *
 * @example
 * ```ts
 * import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ name: "api", tokensPerSecond: 10, burstSize: 20 })
 *   const decision = yield* limiter.consume("client-42")
 *   yield* Effect.log(decision.allowed, decision.remaining)
 *   yield* Effect.succeed("quote").pipe(RateLimiter.withRateLimit(limiter, { key: "client-42" }))
 * }).pipe(Effect.provide(RateLimiterStore.layerMemory()))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/rateLimiter.js"
import * as RateLimiterStore from "./RateLimiterStore.js"
import type { InvalidOptionsError, RateLimitedError } from "./ResilienceError.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidOptionsError,
  /**
   * @since 0.1.0
   * @category errors
   */
  RateLimitedError
} from "./ResilienceError.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  RateLimiterStoreError
} from "./RateLimiterStore.js"

/**
 * `fail` rejects a call over the limit at once; `wait` sleeps until its
 * tokens are due, up to `maxWait`.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "fail" | "wait"

/**
 * One decision of a limiter, its times as `Duration`s (like every time in the
 * project's public API, `RateLimitedError.retryAfter` included; see the core
 * README's "Conventions"). A store's raw `RateLimiterStore.Decision` counts
 * whole milliseconds, the unit its arithmetic and the Redis script work in;
 * the limiter converts once per decision. Until 0.2.0 this was the raw form
 * (`waitMillis`, `resetAfterMillis`, `retryAfterMillis`).
 *
 * The "binding" bucket is the one the decision is reported for: when
 * rejected, the bucket that needs the longest to admit; when admitted, the
 * one with the fewest whole tokens left (`boundBy` names it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  /** Was the call admitted (in wait mode: was a reservation made)? */
  readonly allowed: boolean
  /**
   * How long the caller must sleep before acting on an admitted reservation:
   * zero in fail mode, whenever tokens were there already, and when rejected.
   */
  readonly wait: Duration.Duration
  /** `burstSize` of the binding bucket. */
  readonly limit: number
  /** Whole tokens left in the binding bucket after this decision (when rejected: now). */
  readonly remaining: number
  /** Time until the binding bucket is full again (zero when it is full): the `RateLimit` header's `t`. */
  readonly resetAfter: Duration.Duration
  /**
   * Zero when admitted. When rejected: the exact time until a call of this
   * cost would be admitted without waiting, if nobody else takes tokens
   * meanwhile (a `Retry-After`).
   */
  readonly retryAfter: Duration.Duration
  /** When rejected: the store key of the binding bucket that rejected the call. */
  readonly rejectedBy?: string | undefined
  /**
   * The index of the binding bucket (0: the client's, 1: the global one, then
   * the client's windows in `options.windows` order), when the store reports it.
   */
  readonly binding?: number | undefined
  /**
   * When the binding limit is one of `options.windows`: its length (`limit`,
   * `remaining`, `resetAfter` and `retryAfter` are that window's). Absent when
   * a token bucket decided.
   *
   * @since 0.2.0
   */
  readonly window?: Duration.Duration | undefined
}

/**
 * One window of a multi-window quota: at most `limit` calls (units of cost)
 * in each window of length `per`, windows aligned to the Unix epoch (a
 * `"1 day"` window resets at UTC midnight, a `"1 minute"` one on the minute).
 *
 * @since 0.2.0
 * @category models
 */
export interface Window {
  /** An integer >= 1. */
  readonly limit: number
  /** Whole milliseconds, from 1 ms to 366 days. */
  readonly per: Duration.DurationInput
}

/**
 * Options of a limiter, validated once by `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Names the limiter in metrics, logs and errors, and prefixes its keys in
   * the store: two limiters with the same name sharing a store share their
   * buckets (which is how a fleet shares one limit through Redis).
   */
  readonly name: string
  /** Refill rate of each client's bucket, > 0 (fractions allowed: 0.5 = one every 2 s). */
  readonly tokensPerSecond: number
  /**
   * Capacity of each client's bucket, an integer >= 1: the largest burst.
   *
   * @default Math.max(1, Math.ceil(tokensPerSecond))
   */
  readonly burstSize?: number | undefined
  /**
   * Tokens one call costs unless the call says otherwise; > 0 and at most the
   * smallest burst size.
   *
   * @default 1
   */
  readonly cost?: number | undefined
  /**
   * A bucket shared by all clients of this limiter, which every call must
   * pass too. `burstSize` defaults as above.
   *
   * @default none
   */
  readonly global?:
    | { readonly tokensPerSecond: number; readonly burstSize?: number | undefined }
    | undefined
  /** @default "fail" */
  readonly mode?: Mode | undefined
  /**
   * Wait mode: the longest a call may sleep for its tokens; a call that would
   * wait longer fails with `RateLimitedError` at once. Ignored in fail mode.
   *
   * @default "10 seconds"
   */
  readonly maxWait?: Duration.DurationInput | undefined
  /**
   * A multi-window quota per client (the same key as the client's bucket),
   * which every call must pass too, atomically with the buckets: e.g.
   * `[{ limit: 5, per: "1 minute" }, { limit: 25, per: "1 day" }]`. At most
   * 8 windows, of distinct lengths; `cost` must not exceed any `limit`. The
   * token bucket still shapes bursts (give it the shortest rule, e.g. 1 per
   * second); the windows cap the counts per calendar window, which a bucket
   * cannot (a bucket of burst L refilled L per W admits up to 2L in some
   * stretch of length W).
   *
   * @default none
   */
  readonly windows?: ReadonlyArray<Window> | undefined
}

/**
 * Options after validation and defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly name: string
  readonly tokensPerSecond: number
  readonly burstSize: number
  readonly cost: number
  /** The largest cost a call may ask for: the smallest burst size. */
  readonly maxCost: number
  readonly global: Option.Option<{ readonly tokensPerSecond: number; readonly burstSize: number }>
  readonly mode: Mode
  readonly maxWait: Duration.Duration
  /** The windows, shortest first, lengths in whole milliseconds (empty: none). */
  readonly windows: ReadonlyArray<{ readonly limit: number; readonly windowMillis: number }>
}

/**
 * Per-call options.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /**
   * Tokens this call costs, in [0, smallest burst size]. 0 is a free call:
   * always let through, not charged, its decision reporting the buckets as
   * they are. A cost outside that range is a defect (`InvalidOptionsError` as
   * the die value): a programming error, not a rate limit.
   *
   * @default options.cost
   */
  readonly cost?: number | undefined
}

/**
 * Per-call options of `execute` / `withRateLimit`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions extends CallOptions {
  /**
   * The client the call is charged to (API key, principal, IP, …), any
   * length or characters. Without a key, calls share one bucket of the
   * limiter (the usual case for an outbound quota).
   */
  readonly key?: string | undefined
}

/**
 * What a limiter holds, for status pages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly name: string
  readonly mode: Mode
  readonly tokensPerSecond: number
  readonly burstSize: number
  /** Keys held by the store (all limiters sharing it), if it can count them. */
  readonly keys: Option.Option<number>
  /** The store's key bound, if any. */
  readonly maxKeys: Option.Option<number>
  /** The global bucket now, if the limiter has one. */
  readonly global: Option.Option<
    { readonly limit: number; readonly remaining: number; readonly resetAfter: Duration.Duration }
  >
}

/**
 * A rate limiter: what `make` returns and the `RateLimiter` Tag provides
 * (until 0.2.0 this interface was named `RateLimiter`). `key` is the client a call is charged to (omitted: the
 * limiter's one shared bucket). Errors report the key as the store sees it:
 * the key itself when it is short and printable, its hash otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly name: string
  readonly options: ResolvedOptions
  /** The decision a call would get now, without taking any token. */
  readonly check: (
    key?: string | undefined,
    options?: CallOptions | undefined
  ) => Effect.Effect<Decision, RateLimiterStore.RateLimiterStoreError>
  /**
   * One decision, taking the tokens when allowed; a rejection is a decision,
   * not an error (for HTTP middleware writing headers). Never sleeps: in wait
   * mode an allowed decision with a non-zero `wait` is a reservation the
   * caller must honour by sleeping (use `acquire` to have it done, with the
   * refund on interruption).
   */
  readonly consume: (
    key?: string | undefined,
    options?: CallOptions | undefined
  ) => Effect.Effect<Decision, RateLimiterStore.RateLimiterStoreError>
  /**
   * Take the tokens, in the limiter's mode: fail mode fails at once with
   * `RateLimitedError` when over the limit; wait mode sleeps for its
   * reservation (interruptible: an interrupted waiter refunds it) and fails
   * when the wait would exceed `maxWait`.
   */
  readonly acquire: (
    key?: string | undefined,
    options?: CallOptions | undefined
  ) => Effect.Effect<Decision, RateLimitedError | RateLimiterStore.RateLimiterStoreError>
  /** Run `self` once `acquire` lets it. */
  readonly execute: <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: ExecuteOptions | undefined
  ) => Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R>
  /** What the limiter holds, for status pages. */
  readonly stats: Effect.Effect<Stats, RateLimiterStore.RateLimiterStoreError>
  /**
   * Which of this limiter's buckets one of its decisions is reported for
   * (`limit`, `remaining`, `rejectedBy`): `"client"`, the caller's own bucket
   * (or the keyless one), or `"global"`, the limiter-wide bucket. The
   * `RateLimit` header's policy name comes from it. Read from the store's
   * `binding` when it reports one, else from `rejectedBy` (a rejection) or
   * the `limit` (an admission).
   */
  readonly boundBy: (decision: Decision | RateLimiterStore.Decision) => "client" | "global"
}

/**
 * The limiter of an environment, for the policy form
 * `effect.pipe(RateLimiter.withRateLimit(key))` and for middleware. Build it
 * with `layer` / `layerMemory`; an application with several limiters passes
 * instances from `make` instead.
 *
 * @since 0.2.0
 * @category tags
 */
export class RateLimiter extends Context.Tag("@effect-resilience/core/RateLimiter")<RateLimiter, Service>() {}

/**
 * The former name of the `RateLimiter` Tag.
 *
 * @since 0.1.0
 * @category tags
 * @deprecated use `RateLimiter.RateLimiter`
 */
export const RateLimiterService: typeof RateLimiter = RateLimiter

/**
 * The former name of the `RateLimiter` Tag's identifier.
 *
 * @since 0.1.0
 * @category tags
 * @deprecated use `RateLimiter.RateLimiter`
 */
export type RateLimiterService = RateLimiter

/**
 * Decisions made, as a counter tagged `limiter` (the name) and `outcome`
 * (`allowed`, `waited`: allowed after a wait, `rejected`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const decisionsTotal: Metric.Metric.Counter<number> = internal.decisionsTotal

/**
 * The data rules of `Options`, the single source of `make`'s validation and
 * of `ResilienceConfig`'s rate-limit settings: `name` of at most 256
 * printable characters, `tokensPerSecond` and `cost` finite numbers > 0,
 * `burstSize` an integer >= 1 (the same for `global`), `mode` `"fail"` or
 * `"wait"`, `maxWait` a finite duration > 0 (`Duration.DurationInput`: bare
 * numbers are millis), `windows` at most 8 of distinct lengths, each a
 * `limit` integer >= 1 `per` a whole number of milliseconds from 1 ms to 366
 * days, `cost` at most the smallest burst size and window limit. `make` reports
 * the first issue as an `InvalidOptionsError` naming the option
 * (`global.burstSize` for a nested one).
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<Schema.Schema.Type<typeof schemas.RateLimiterOptions>, Options> =
  schemas.RateLimiterOptions

/**
 * Validate options (an `InvalidOptionsError` naming the option: zero,
 * negative or NaN rate, burst not an integer >= 1, cost <= 0 or above the
 * burst, unknown mode, invalid `maxWait`) and build a limiter over the
 * `RateLimiterStore` of the environment.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Service, InvalidOptionsError, RateLimiterStore.RateLimiterStore> =>
  Effect.flatMap(
    internal.resolveOptions(options),
    (resolved) => Effect.map(RateLimiterStore.RateLimiterStore, (store) => internal.make(store, resolved))
  )

/**
 * The `RateLimiter` Tag built by `make` over the environment's store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<RateLimiter, InvalidOptionsError, RateLimiterStore.RateLimiterStore> =>
  Layer.effect(RateLimiter, make(options))

/**
 * The `RateLimiter` Tag over its own in-memory store
 * (`RateLimiterStore.layerMemory(memory)`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: Options,
  memory?: RateLimiterStore.MemoryOptions | undefined
): Layer.Layer<RateLimiter, InvalidOptionsError> => Layer.provide(layer(options), RateLimiterStore.layerMemory(memory))

/**
 * The form a client key takes in the store and in logs: short printable keys
 * as they are, any other key (empty, long, or with characters outside the
 * verbatim set) as its hash, so no client key can name another bucket. For
 * integrations that log or report the key a limiter decided on.
 *
 * @since 0.1.0
 * @category keys
 */
export const clientKey: (key: string) => string = internal.clientKey

/**
 * A limiter's synchronous decision for a caller already running inside a
 * fiber's step (an HTTP middleware in `Effect.withFiberRuntime`): one decision
 * without an Effect of its own, in the store's raw form (whole milliseconds,
 * no `Duration` built: the hot path of a server under a flood). It counts the decision in `decisionsTotal`
 * like `consume` but logs nothing (the caller logs a rejection). Returns
 * `undefined` when the cost is not in (0, maxCost]: use `consume` then.
 *
 * @since 0.1.0
 * @category unsafe
 */
export type UnsafeConsume = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  key: string | undefined,
  cost: number
) => RateLimiterStore.Decision | undefined

/**
 * The limiter's `UnsafeConsume`, present when its store decides synchronously
 * (the memory store); `undefined` otherwise (the Redis store), where callers
 * use `consume`.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeConsumeOf: (limiter: Service) => UnsafeConsume | undefined = internal.unsafeConsumeOf

/**
 * The policy form: run an effect once a limiter lets it through. Give it a
 * limiter (`withRateLimit(limiter, { key, cost })`), or a client key to use
 * the environment's `RateLimiter` Tag (`withRateLimit("client-42")`).
 * Data-first and pipeable.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRateLimit: {
  (
    limiter: Service,
    options?: ExecuteOptions | undefined
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R>
  (
    key: string,
    options?: CallOptions | undefined
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R | RateLimiter>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiter: Service,
    options?: ExecuteOptions | undefined
  ): Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options?: CallOptions | undefined
  ): Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R | RateLimiter>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiterOrKey: Service | string,
    options?: ExecuteOptions | undefined
  ): Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R | RateLimiter> =>
    typeof limiterOrKey === "string"
      ? Effect.flatMap(
        RateLimiter,
        (limiter) => limiter.execute(self, { key: limiterOrKey, cost: options?.cost })
      )
      : limiterOrKey.execute(self, options)
)
