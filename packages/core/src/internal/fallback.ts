/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { tagOf } from "../ResilienceError.js"
import * as rules from "./options.js"
import { isRetryOnList, matchAny } from "./retry.js"
import * as T from "./telemetry.js"

/** What a fallback did with a handled failure. @internal */
export type Outcome = "served" | "stale" | "expired" | "missing"

/**
 * Counts a handled failure and records it on the current span (with the error's tag and, for a remembered
 * value, its age), on the failure path only.
 *
 * @internal
 */
export const reporter = (name: string) => {
  const labels = T.baseLabels("fallback", name, "")
  const counters = {
    served: T.taggedCounter(T.fallbacks, [...labels, MetricLabel.make("outcome", "served")]),
    stale: T.taggedCounter(T.fallbacks, [...labels, MetricLabel.make("outcome", "stale")]),
    expired: T.taggedCounter(T.fallbacks, [...labels, MetricLabel.make("outcome", "expired")]),
    missing: T.taggedCounter(T.fallbacks, [...labels, MetricLabel.make("outcome", "missing")])
  }
  return (outcome: Outcome, error: unknown, ageMillis?: number): Effect.Effect<void> =>
    Effect.zipRight(
      Metric.increment(counters[outcome]),
      T.event(T.Event.fallback, () => {
        const attributes: Record<string, unknown> = {
          [T.Attr.fallbackName]: name,
          [T.Attr.fallbackOutcome]: outcome,
          [T.Attr.errorType]: tagOf(error)
        }
        if (ageMillis !== undefined) attributes[T.Attr.fallbackAgeMs] = ageMillis
        return attributes
      })
    )
}

/** @internal */
export const OptionsSchema = Schema.Struct({
  orElse: rules.AnyFunction,
  handles: Schema.optional(rules.ErrorSelector),
  name: Schema.optional(rules.Name)
})

/** @internal */
export type DecodedOptions = Schema.Schema.Type<typeof OptionsSchema>
/** @internal */
export type EncodedOptions = Schema.Schema.Encoded<typeof OptionsSchema>

/** @internal */
export const LastGoodOptionsSchema = Schema.Struct({
  maxAge: rules.durationOption(rules.PositiveDuration),
  handles: Schema.optional(rules.ErrorSelector),
  mark: Schema.optional(rules.AnyFunction),
  maxKeys: Schema.optional(rules.PositiveInt),
  name: Schema.optional(rules.Name)
})

/** @internal */
export type DecodedLastGoodOptions = Schema.Schema.Type<typeof LastGoodOptionsSchema>
/** @internal */
export type EncodedLastGoodOptions = Schema.Schema.Encoded<typeof LastGoodOptionsSchema>

const decodeOptions = rules.decoder("Fallback", OptionsSchema)
const decodeLastGood = rules.decoder("Fallback", LastGoodOptionsSchema)

/** The predicate of `handles`; `undefined` when every error is handled. @internal */
export const selector = (
  handles: ReadonlyArray<unknown> | ((error: unknown) => boolean) | undefined
): ((error: unknown) => boolean) | undefined =>
  handles === undefined ? undefined : typeof handles === "function" ? handles : isRetryOnList(handles)
    ? matchAny(handles)
    : undefined

/** @internal */
export const make = (options: {
  readonly orElse: (error: unknown) => Effect.Effect<unknown, unknown, unknown>
  readonly handles?: ReadonlyArray<unknown> | ((error: unknown) => boolean) | undefined
  readonly name?: string | undefined
}) =>
  Effect.map(decodeOptions(options), (decoded) => {
    const name = decoded.name ?? "fallback"
    const handled = selector(options.handles)
    const orElse = options.orElse
    const report = reporter(name)
    const execute = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.catchAll(self, (error) =>
        handled === undefined || handled(error)
          ? Effect.zipRight(report("served", error), orElse(error))
          : Effect.fail(error))
    return { name, execute }
  })

interface Entry<A> {
  readonly value: A
  readonly at: number
}

/** @internal */
export const lastGood = <A>(options: {
  readonly maxAge: Duration.DurationInput
  readonly handles?: ReadonlyArray<unknown> | ((error: unknown) => boolean) | undefined
  readonly mark?: ((value: A, age: Duration.Duration) => A) | undefined
  readonly maxKeys?: number | undefined
  readonly name?: string | undefined
}) =>
  Effect.map(decodeLastGood(options), (decoded) => {
    const name = decoded.name ?? "lastGood"
    const maxAge = decoded.maxAge
    const maxAgeMillis = Duration.toMillis(maxAge)
    const maxKeys = decoded.maxKeys ?? 10_000
    const handled = selector(options.handles)
    const mark = options.mark
    const report = reporter(name)
    // Map order is insertion order: re-inserting on each success keeps the least recently refreshed key first.
    const entries = new Map<string, Entry<A>>()

    const remember = (key: string, value: A) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          entries.delete(key)
          entries.set(key, { value, at: clock.unsafeCurrentTimeMillis() })
          if (entries.size > maxKeys) entries.delete(entries.keys().next().value!)
        })
      )

    const forKey = (key: string) => <E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.tap(self, (value) => remember(key, value)).pipe(
        Effect.catchAll((error) => {
          if (handled !== undefined && !handled(error)) return Effect.fail(error)
          return Effect.clockWith((clock) => {
            const entry = entries.get(key)
            if (entry === undefined) return Effect.zipRight(report("missing", error), Effect.fail(error))
            const ageMillis = clock.unsafeCurrentTimeMillis() - entry.at
            if (ageMillis > maxAgeMillis) {
              return Effect.zipRight(report("expired", error, ageMillis), Effect.fail(error))
            }
            const value = mark === undefined ? entry.value : mark(entry.value, Duration.millis(ageMillis))
            return Effect.as(report("stale", error, ageMillis), value)
          })
        })
      )

    const get = (key = "") =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const entry = entries.get(key)
          return entry === undefined
            ? Option.none()
            : Option.some({ value: entry.value, age: Duration.millis(clock.unsafeCurrentTimeMillis() - entry.at) })
        })
      )

    return { name, maxAge, execute: forKey(""), forKey, get }
  })
