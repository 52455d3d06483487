/**
 * Fallback: answer with something else when a call fails with an error you
 * chose to handle — a default value, another effect (a second provider, a
 * cache), or the last good value the call returned, if it is young enough.
 *
 * Reach for it at the edge of a call whose caller prefers a degraded answer
 * to an error: a quote marked stale while the provider's breaker is Open, an
 * empty list when a recommendations service is down. It stands **outside**
 * the stack (`effect.pipe(Policy.withResilience(...), fallback.execute)`):
 * the breaker, retries and timeout have had their say, and the fallback
 * turns their final rejection into an answer. (Inside the stack it would hide
 * failures from the breaker and the retries.)
 *
 * - Which errors: `handles`, as `Retry`'s `retryOn` — a list of `_tag`s and
 *   error classes (`instanceof`: subclasses count) or a predicate. By
 *   default every typed failure. Defects and interruptions are never handled.
 * - Typed: the errors a list or a refinement selects leave the error channel
 *   (`Exclude<E, Handled>`); the others pass through unchanged, with their
 *   type. A plain predicate removes nothing from the type.
 * - `lastGood` remembers each success (per key, at most `maxKeys` keys, the
 *   least recently refreshed evicted first) with its time on the fiber's
 *   `Clock`; after a handled failure it serves the value when its age is at
 *   most `maxAge` (through `mark`, to flag it stale), and otherwise returns
 *   the original error.
 * - Observability (the scheme of `Observability`; `policy` `fallback`,
 *   `service` the fallback's `name`): `resilience_fallbacks_total`
 *   (`outcome`: `served`, `stale`, `expired`, `missing`) and, on the
 *   current span if one is open, a `resilience.fallback` event with the
 *   outcome, the handled error's tag and the remembered value's age, both
 *   on the failure path only. The success path is a bare `Effect.catchAll`
 *   (`lastGood` adds one clock read and a `Map` write).
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/fallback.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

export {
  /**
   * @since 0.2.0
   * @category errors
   */
  InvalidOptionsError
} from "./ResilienceError.js"

/**
 * An error class for `handles`: an error is handled when it is an
 * `instanceof` it (subclasses too).
 *
 * @since 0.2.0
 * @category models
 */
export type ErrorClass = abstract new(...args: ReadonlyArray<any>) => unknown

/**
 * Which errors a fallback handles: a list of tags (matched with
 * `ResilienceError.tagOf`) and error classes, or a predicate (a refinement
 * narrows the error type).
 *
 * @since 0.2.0
 * @category models
 */
export type Handles = ReadonlyArray<string | ErrorClass> | ((error: any) => boolean)

/**
 * The error type `handles` selects: `unknown` (everything) when absent, the
 * refined type of a refinement, the tagged and class types of a list;
 * `never` for a plain predicate (the type cannot know what it selects).
 *
 * @since 0.2.0
 * @category models
 */
export type Handled<H> = [H] extends [undefined] ? unknown
  : H extends (error: any) => error is infer X ? X
  : H extends (error: any) => boolean ? never
  : H extends ReadonlyArray<infer I> ? I extends string ? { readonly _tag: I }
    : I extends abstract new(...args: ReadonlyArray<any>) => infer C ? C
    : never
  : never

/**
 * A fallback policy: `execute` answers with the fallback when `self` fails
 * with a handled error.
 *
 * @since 0.2.0
 * @category models
 */
export interface Fallback<B, E2 = never, R2 = never, H = undefined> {
  /** The `service` label of its metrics and the name in its span events. */
  readonly name: string
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | B, Exclude<E, Handled<H>> | E2, R | R2>
}

/**
 * Options of `Fallback.make`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<B, E2, R2, H extends Handles | undefined> {
  /**
   * The answer to a handled failure; receives the error.
   */
  readonly orElse: (error: any) => Effect.Effect<B, E2, R2>
  /**
   * Which errors fall back.
   * @default every typed failure
   */
  readonly handles?: H
  /**
   * The `service` label of its metrics and the name in its span events.
   * @default "fallback"
   */
  readonly name?: string | undefined
}

/**
 * The data rules of `Options` (and of `value`'s options), decoded by `make`:
 * `name` a printable name, `handles` a list of tags and classes or a
 * predicate, `orElse` a function.
 *
 * @since 0.2.0
 * @category schemas
 */
export const OptionsSchema: Schema.Schema<internal.DecodedOptions, internal.EncodedOptions> = internal.OptionsSchema

/**
 * Builds a fallback that runs `orElse(error)` when a call fails with a
 * handled error. Fails with `InvalidOptionsError` naming the option.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 * import { Effect, Schema } from "effect"
 *
 * class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}
 * class BadSymbol extends Schema.TaggedError<BadSymbol>()("BadSymbol", {}) {}
 *
 * const primary: Effect.Effect<number, ProviderDown | BadSymbol> = Effect.fail(new ProviderDown())
 * const secondary = Effect.succeed(101.5)
 *
 * const program = Effect.gen(function*() {
 *   const fallback = yield* Fallback.make({ handles: ["ProviderDown"], orElse: () => secondary })
 *   // ProviderDown is handled: only BadSymbol is left in the error channel
 *   const price: Effect.Effect<number, BadSymbol> = fallback.execute(primary)
 *   return yield* price
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: <B, E2 = never, R2 = never, const H extends Handles | undefined = undefined>(
  options: Options<B, E2, R2, H>
) => Effect.Effect<Fallback<B, E2, R2, H>, InvalidOptionsError> = internal.make as any

/**
 * A fallback answering with a fixed value.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const empty = yield* Fallback.value([] as ReadonlyArray<string>)
 *   return yield* empty.execute(Effect.fail("recommendations down"))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const value = <B, const H extends Handles | undefined = undefined>(
  value: B,
  options?: { readonly handles?: H; readonly name?: string | undefined }
): Effect.Effect<Fallback<B, never, never, H>, InvalidOptionsError> =>
  make<B, never, never, H>({ ...options, orElse: () => Effect.succeed(value) } as Options<B, never, never, H>)

/**
 * Runs an effect under a fallback: `Fallback.withFallback(effect, fallback)`
 * or `effect.pipe(Fallback.withFallback(fallback))`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const withFallback: {
  <B, E2, R2, H>(
    fallback: Fallback<B, E2, R2, H>
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | B, Exclude<E, Handled<H>> | E2, R | R2>
  <A, E, R, B, E2, R2, H>(
    self: Effect.Effect<A, E, R>,
    fallback: Fallback<B, E2, R2, H>
  ): Effect.Effect<A | B, Exclude<E, Handled<H>> | E2, R | R2>
} = dual(
  2,
  <A, E, R, B, E2, R2, H>(self: Effect.Effect<A, E, R>, fallback: Fallback<B, E2, R2, H>) => fallback.execute(self)
)

/**
 * A last good value and its age.
 *
 * @since 0.2.0
 * @category models
 */
export interface Remembered<A> {
  readonly value: A
  readonly age: Duration.Duration
}

/**
 * The last-good-value fallback: remembers each success of the calls it
 * wraps and serves it after a handled failure while its age is at most
 * `maxAge`; otherwise the failure passes through, so the error type is
 * unchanged.
 *
 * @since 0.2.0
 * @category models
 */
export interface LastGood<A> {
  /** The `service` label of its metrics and the name in its span events. */
  readonly name: string
  /** The age limit of a served value. */
  readonly maxAge: Duration.Duration
  /** `forKey("")`: one value for every call. */
  readonly execute: <E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The policy for one key (a symbol, a URL): each key remembers its own value. */
  readonly forKey: (key: string) => <E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The remembered value of a key (default `""`) and its age now, fresh or not. */
  readonly get: (key?: string) => Effect.Effect<Option.Option<Remembered<A>>>
}

/**
 * Options of `Fallback.lastGood`.
 *
 * @since 0.2.0
 * @category models
 */
export interface LastGoodOptions<A> {
  /** The oldest value that may be served: a finite `Duration` > 0. */
  readonly maxAge: Duration.DurationInput
  /**
   * Which errors fall back.
   * @default every typed failure
   */
  readonly handles?: Handles | undefined
  /**
   * Turns a remembered value into the served one (to mark it stale).
   * @default the value as it was
   */
  readonly mark?: ((value: A, age: Duration.Duration) => A) | undefined
  /**
   * How many keys are remembered; the least recently refreshed goes first.
   * @default 10000
   */
  readonly maxKeys?: number | undefined
  /**
   * The `service` label of its metrics and the name in its span events.
   * @default "lastGood"
   */
  readonly name?: string | undefined
}

/**
 * The data rules of `LastGoodOptions`, decoded by `lastGood`: `maxAge` a
 * finite duration > 0, `maxKeys` an integer >= 1, `name` a printable name,
 * `handles` and `mark` as in `make`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const LastGoodOptionsSchema: Schema.Schema<internal.DecodedLastGoodOptions, internal.EncodedLastGoodOptions> =
  internal.LastGoodOptionsSchema

/**
 * Builds a last-good-value fallback. Fails with `InvalidOptionsError`
 * naming the option.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * interface Quote { readonly symbol: string; readonly price: number; readonly stale?: boolean }
 *
 * const program = Effect.gen(function*() {
 *   const lastQuote = yield* Fallback.lastGood<Quote>({
 *     maxAge: "1 minute",
 *     mark: (quote) => ({ ...quote, stale: true })
 *   })
 *   const quoteOf = lastQuote.forKey("AAPL")
 *   yield* quoteOf(Effect.succeed({ symbol: "AAPL", price: 189.5 }))
 *   // the provider fails: the last quote is served, marked stale
 *   return yield* quoteOf(Effect.fail("provider down"))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const lastGood: <A>(options: LastGoodOptions<A>) => Effect.Effect<LastGood<A>, InvalidOptionsError> =
  internal.lastGood
