/**
 * Hedging implementation. The primary attempt starts synchronously in a
 * child fiber (`startChild`, as the timeout's): when it completes without
 * suspending, its exit is returned at once, and no timer or second fiber
 * is made. Otherwise the caller suspends while the attempts' exit observers
 * and one timer (the timeout's, on the fiber's Clock) drive the rest: a
 * delay elapsed or a failed attempt starts the next attempt (while attempts
 * remain); the first success wins and the others are interrupted in the
 * background; when every attempt has failed, the last failure is returned.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as MetricLabel from "effect/MetricLabel"
import * as ParseResult from "effect/ParseResult"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schema from "effect/Schema"
import * as rules from "./options.js"
import * as T from "./telemetry.js"
import { armTimer, startChild } from "./timeout.js"

/** @internal */
export const MAX_HEDGED_ATTEMPTS = 10
/** @internal */
export const MAX_WINDOW = 10_000

/** @internal */
export const PercentileSchema = Schema.Struct({
  percentile: rules.Percentile,
  initial: rules.durationOption(rules.NonNegativeDuration),
  window: Schema.optional(rules.intInRange(1, MAX_WINDOW)),
  minSamples: Schema.optional(rules.PositiveInt)
}).pipe(Schema.filter((p) =>
  p.minSamples !== undefined && p.minSamples > (p.window ?? 100)
    ? { path: ["minSamples"], message: "must be <= window" }
    : undefined
))

const FixedDelay = rules.durationOption(rules.NonNegativeDuration)

// An object (not a Duration) is read as a percentile delay, anything else as a duration: each input is
// reported against the one rule it was meant for, not both.
const isPercentileInput = (u: unknown): boolean =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u)

/** @internal */
export const DelaySchema = Schema.transformOrFail(
  Schema.Unknown,
  Schema.Union(Schema.typeSchema(PercentileSchema), Schema.DurationFromSelf),
  {
    strict: true,
    decode: (input, options) =>
      isPercentileInput(input)
        ? ParseResult.decodeUnknown(PercentileSchema)(input, options)
        : ParseResult.decodeUnknown(FixedDelay)(input, options),
    encode: ParseResult.succeed
  }
)

/** @internal */
export const OptionsSchema = Schema.Struct({
  delay: DelaySchema,
  maxHedgedAttempts: Schema.optional(rules.intInRange(0, MAX_HEDGED_ATTEMPTS)),
  idempotent: Schema.optional(rules.Flag),
  name: Schema.optional(rules.Name)
})

/** @internal */
export type DecodedOptions = Schema.Schema.Type<typeof OptionsSchema>
/** @internal */
export type EncodedOptions = Schema.Schema.Encoded<typeof OptionsSchema>

/** @internal */
export const decode = rules.decoder("Hedge", OptionsSchema)

/**
 * Latencies of recent successful attempts in a ring buffer, and their
 * percentile (nearest rank), recomputed after every tenth of the window's
 * new samples rather than on every call (a sort of the window).
 *
 * @internal
 */
export class LatencyWindow {
  private readonly samples: Float64Array
  private count = 0
  private next = 0
  private sinceComputed = 0
  private cached: number | undefined = undefined
  private readonly recomputeEvery: number
  constructor(
    readonly size: number,
    readonly percentile: number,
    readonly minSamples: number,
    readonly initialMillis: number
  ) {
    this.samples = new Float64Array(size)
    this.recomputeEvery = Math.max(1, Math.floor(size / 10))
  }
  record(millis: number): void {
    this.samples[this.next] = millis
    this.next = (this.next + 1) % this.size
    if (this.count < this.size) this.count++
    this.sinceComputed++
  }
  /** The hedging delay in millis: the percentile of the window, or `initialMillis` before `minSamples`. */
  delayMillis(): number {
    if (this.count < this.minSamples) return this.initialMillis
    if (this.cached === undefined || this.sinceComputed >= this.recomputeEvery) {
      const sorted = this.samples.slice(0, this.count).sort()
      this.cached = sorted[Math.max(0, Math.ceil((this.percentile / 100) * this.count) - 1)]!
      this.sinceComputed = 0
    }
    return this.cached
  }
}

/** @internal */
export interface Config {
  readonly name: string
  readonly maxAttempts: number
  /** The delay before the next hedge, in millis, read once per call. */
  readonly delayMillis: () => number
  /** Called with the latency of each successful attempt. */
  readonly record: (millis: number) => void
}

/** @internal */
export const makeExecute = (config: Config) => {
  const { maxAttempts, name, record } = config
  const labels = T.baseLabels("hedge", name, "")
  const launched = T.taggedCounter(T.hedgeAttempts, labels)
  const won = (winner: string) => T.taggedCounter(T.hedgeWins, [...labels, MetricLabel.make("outcome", winner)])
  const primaryWon = won("primary")
  const hedgeWon = won("hedge")
  const noneWon = won("none")

  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<A, E, R>((parent, status) => {
        // Attempts must be interruptible to lose, whatever the caller's region.
        const flags = RuntimeFlags.enable(status.runtimeFlags, RuntimeFlags.Interruption)
        const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
        const started = clock.unsafeCurrentTimeMillis()
        const primary = startChild(parent, flags, self)
        const exit = primary.unsafePoll()
        if (exit !== null) {
          if (Exit.isSuccess(exit)) record(clock.unsafeCurrentTimeMillis() - started)
          return exit
        }
        const delayMillis = config.delayMillis()
        const delay = Duration.millis(delayMillis)
        const fibers: Array<Fiber.RuntimeFiber<A, E>> = [primary]
        // Span events only when a span is open (read once: the caller's context does not change while it waits).
        const traced = T.spanOf(parent.currentContext) !== undefined
        const report = (winner: string, index: number) => {
          if (traced) {
            T.unsafeEvent(parent, T.Event.hedgeSettled, {
              [T.Attr.hedgeName]: name,
              [T.Attr.hedgeWinner]: winner,
              [T.Attr.hedgeAttempt]: index
            })
          }
        }
        // Driven by the attempts' exit observers and one timer at a time, in callbacks: no fiber of its own,
        // no queue (measured: a Queue + `Effect.timeoutOption` loop cost ~68 µs a call whose primary wins).
        return restore(Effect.async<A, E>((resume) => {
          let settled = false
          let running = 1
          let cancelTimer = (): void => {}
          const starts: Array<number> = [started]

          const settle = (exit: Exit.Exit<A, E>) => {
            settled = true
            cancelTimer()
            resume(exit)
          }
          const armNext = () => {
            cancelTimer()
            if (fibers.length < maxAttempts) {
              cancelTimer = armTimer(parent, flags, delay, delayMillis, () => {
                if (!settled) launch("delay")
              })
            }
          }
          const observe = (fiber: Fiber.RuntimeFiber<A, E>, index: number) =>
            fiber.addObserver((exit) => {
              if (settled) return
              if (Exit.isSuccess(exit)) {
                record(clock.unsafeCurrentTimeMillis() - starts[index]!)
                for (let i = 0; i < fibers.length; i++) {
                  if (i !== index) fibers[i]!.unsafeInterruptAsFork(parent.id())
                }
                ;(index === 0 ? primaryWon : hedgeWon).unsafeUpdate(1, [])
                report(index === 0 ? "primary" : "hedge", index)
                return settle(exit)
              }
              running--
              if (fibers.length < maxAttempts) return launch("failure")
              if (running === 0) {
                noneWon.unsafeUpdate(1, [])
                report("none", index)
                settle(exit)
              }
            })
          const launch = (trigger: "delay" | "failure"): void => {
            const index = fibers.length
            starts.push(clock.unsafeCurrentTimeMillis())
            running++
            const fiber = startChild(parent, flags, self)
            fibers.push(fiber)
            launched.unsafeUpdate(1, [])
            if (traced) {
              T.unsafeEvent(parent, T.Event.hedgeAttemptStarted, {
                [T.Attr.hedgeName]: name,
                [T.Attr.hedgeAttempt]: index,
                [T.Attr.hedgeDelayMs]: delayMillis,
                [T.Attr.hedgeTrigger]: trigger
              })
            }
            armNext()
            observe(fiber, index)
          }

          armNext()
          observe(primary, 0)
          // The caller was interrupted: every attempt is interrupted and awaited.
          return Effect.suspend(() => {
            settled = true
            cancelTimer()
            return Fiber.interruptAll(fibers)
          })
        }))
      })
    )
}
