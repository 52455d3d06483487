/** @internal */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as rules from "./options.js"
import * as T from "./telemetry.js"

const RefOfBoolean = Schema.declare(
  (u: unknown): u is Ref.Ref<boolean> => Predicate.hasProperty(u, Ref.RefTypeId)
)

/** @internal */
export const OptionsSchema = Schema.Struct({
  rate: rules.Probability,
  enabled: Schema.optional(
    Schema.Union(Schema.Boolean, RefOfBoolean).annotations({
      message: () => ({ message: "must be true, false or a Ref<boolean>", override: true })
    })
  ),
  name: Schema.optional(rules.Name),
  latency: Schema.optional(rules.durationOption(rules.NonNegativeDuration)),
  error: Schema.optional(rules.AnyFunction),
  value: Schema.optional(rules.AnyFunction)
})

/** @internal */
export type DecodedOptions = Schema.Schema.Type<typeof OptionsSchema>
/** @internal */
export type EncodedOptions = Schema.Schema.Encoded<typeof OptionsSchema>

const decode = rules.decoder("FaultInjection", OptionsSchema)

const required: Record<string, keyof DecodedOptions | undefined> = {
  failure: undefined,
  latency: "latency",
  result: "value"
}

/** @internal */
export const make = <E, A>(
  options: unknown,
  kind: "failure" | "latency" | "result",
  fault: (name: string, decoded: DecodedOptions) => (self: Effect.Effect<any, any, any>) => Effect.Effect<any, any, any>
): Effect.Effect<
  {
    readonly name: string
    readonly kind: "failure" | "latency" | "result"
    readonly rate: number
    readonly enabled: Ref.Ref<boolean>
    readonly execute: <A2, E2, R>(self: Effect.Effect<A2, E2, R>) => Effect.Effect<A | A2, E | E2, R>
  },
  InvalidOptionsError
> =>
  Effect.gen(function*() {
    const decoded = yield* decode(options)
    const key = required[kind]
    if (key !== undefined && decoded[key] === undefined) {
      return yield* Effect.fail(rules.invalid("FaultInjection", key, undefined, "is required"))
    }
    const name = decoded.name ?? "faultInjection"
    const rate = decoded.rate
    const enabled = typeof decoded.enabled === "object" ? decoded.enabled : yield* Ref.make(decoded.enabled ?? false)
    const inject = fault(name, decoded)
    const injected = Effect.zipRight(
      Metric.increment(
        T.taggedCounter(T.faultInjections, [
          ...T.baseLabels("fault_injection", name, ""),
          MetricLabel.make("reason", kind)
        ])
      ),
      T.event(T.Event.faultInjected, { [T.Attr.faultInjectionName]: name, [T.Attr.faultInjectionKind]: kind })
    )
    const execute = <A2, E2, R>(self: Effect.Effect<A2, E2, R>): Effect.Effect<A | A2, E | E2, R> =>
      Effect.flatMap(Ref.get(enabled), (on) =>
        on
          ? Effect.flatMap(Random.next, (draw) => draw < rate ? Effect.zipRight(injected, inject(self)) : self)
          : self)
    return { name, kind, rate, enabled, execute }
  })
