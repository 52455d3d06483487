import { Fallback, ResilienceError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Schema, TestClock } from "effect"
import { counterValue } from "./utils/metrics.js"

class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}
class BadSymbol extends Schema.TaggedError<BadSymbol>()("BadSymbol", { symbol: Schema.String }) {}
class NetworkError extends Error {}
class ResetError extends NetworkError {}

interface Quote {
  readonly symbol: string
  readonly price: number
  readonly staleFor?: number
}

describe("Fallback", () => {
  it.effect("a handled error (by tag) falls back; an unhandled one passes through with its type", () =>
    Effect.gen(function*() {
      const fallback = yield* Fallback.make({ handles: ["ProviderDown"], orElse: () => Effect.succeed(-1) })
      const down: Effect.Effect<number, ProviderDown | BadSymbol> = Effect.fail(new ProviderDown())
      const bad: Effect.Effect<number, ProviderDown | BadSymbol> = Effect.fail(new BadSymbol({ symbol: "??" }))
      // the type says ProviderDown is gone: only BadSymbol is left
      const handledDown: Effect.Effect<number, BadSymbol> = fallback.execute(down)
      expect(yield* handledDown).toBe(-1)
      expect(yield* Effect.exit(fallback.execute(bad))).toEqual(Exit.fail(new BadSymbol({ symbol: "??" })))
      expect(yield* fallback.execute(Effect.succeed(7))).toBe(7)
    }))

  it.effect("orElse receives the error; by default every typed failure is handled and the error channel empties", () =>
    Effect.gen(function*() {
      const fallback = yield* Fallback.make({
        orElse: (error: unknown) => Effect.succeed(`fell back from ${ResilienceError.tagOf(error)}`)
      })
      const out: Effect.Effect<string, never> = fallback.execute(Effect.fail(new ProviderDown()))
      expect(yield* out).toBe("fell back from ProviderDown")
    }))

  it.effect("a class selects its subclasses; a predicate selects what it accepts", () =>
    Effect.gen(function*() {
      const byClass = yield* Fallback.value("cached", { handles: [NetworkError] })
      expect(yield* byClass.execute(Effect.fail(new ResetError("reset")))).toBe("cached")
      const other = yield* Effect.flip(byClass.execute(Effect.fail(new TypeError("x"))))
      expect(other).toBeInstanceOf(TypeError)

      const byPredicate = yield* Fallback.value(0, { handles: (e: unknown) => e === "soft" })
      expect(yield* byPredicate.execute(Effect.fail("soft" as const))).toBe(0)
      expect(yield* Effect.flip(byPredicate.execute(Effect.fail("hard" as const)))).toBe("hard")
    }))

  it.effect("a refinement narrows the error type; a plain predicate keeps it", () =>
    Effect.gen(function*() {
      const isDown = (error: unknown): error is ProviderDown => error instanceof ProviderDown
      const refined = yield* Fallback.value(0, { handles: isDown })
      const call: Effect.Effect<number, ProviderDown | BadSymbol> = Effect.fail(new ProviderDown())
      const narrowed: Effect.Effect<number, BadSymbol> = refined.execute(call)
      expect(yield* narrowed).toBe(0)
      const plain = yield* Fallback.value(0, { handles: (error: unknown) => error instanceof ProviderDown })
      const kept: Effect.Effect<number, ProviderDown | BadSymbol> = plain.execute(call)
      expect(yield* kept).toBe(0)
    }))

  it.effect("the fallback's own failure is typed and returned", () =>
    Effect.gen(function*() {
      const fallback = yield* Fallback.make({ orElse: () => Effect.fail("secondary down" as const) })
      const error: "secondary down" = yield* Effect.flip(fallback.execute(Effect.fail(new ProviderDown())))
      expect(error).toBe("secondary down")
    }))

  it.effect("defects and interruptions are never handled", () =>
    Effect.gen(function*() {
      const fallback = yield* Fallback.value(0)
      const defect = yield* Effect.exit(fallback.execute(Effect.die("bug")))
      expect(defect).toEqual(Exit.die("bug"))
      const interrupted = yield* Effect.exit(fallback.execute(Effect.interrupt))
      expect(Exit.isInterrupted(interrupted)).toBe(true)
    }))

  it.effect("lastGood serves the last success up to maxAge (inclusive), then returns the error", () =>
    Effect.gen(function*() {
      const lastGood = yield* Fallback.lastGood<Quote>({
        maxAge: "30 seconds",
        handles: ["ProviderDown"],
        mark: (quote, age) => ({ ...quote, staleFor: Duration.toMillis(age) })
      })
      const quote = lastGood.forKey("AAPL")
      const down: Effect.Effect<Quote, ProviderDown> = Effect.fail(new ProviderDown())

      // nothing remembered yet: the error passes through
      expect(yield* Effect.exit(quote(down))).toEqual(Exit.fail(new ProviderDown()))
      expect(yield* quote(Effect.succeed({ symbol: "AAPL", price: 100 }))).toEqual({ symbol: "AAPL", price: 100 })
      yield* TestClock.adjust("10 seconds")
      expect(yield* quote(down)).toEqual({ symbol: "AAPL", price: 100, staleFor: 10_000 })
      yield* TestClock.adjust("20 seconds")
      expect(yield* quote(down)).toEqual({ symbol: "AAPL", price: 100, staleFor: 30_000 })
      yield* TestClock.adjust("1 millis")
      expect(yield* Effect.exit(quote(down))).toEqual(Exit.fail(new ProviderDown()))
      // a new success refreshes it
      yield* quote(Effect.succeed({ symbol: "AAPL", price: 101 }))
      expect(yield* quote(down)).toEqual({ symbol: "AAPL", price: 101, staleFor: 0 })
      // an unhandled error is never answered from memory
      const bad = yield* Effect.flip(quote(Effect.fail(new BadSymbol({ symbol: "AAPL" }))))
      expect(bad).toEqual(new BadSymbol({ symbol: "AAPL" }))
    }))

  it.effect("lastGood remembers per key, and at most maxKeys keys (least recently refreshed evicted)", () =>
    Effect.gen(function*() {
      const lastGood = yield* Fallback.lastGood<number>({ maxAge: "1 minute", maxKeys: 2 })
      yield* lastGood.forKey("a")(Effect.succeed(1))
      yield* lastGood.forKey("b")(Effect.succeed(2))
      expect(yield* lastGood.forKey("b")(Effect.fail("down"))).toBe(2)
      yield* lastGood.forKey("a")(Effect.succeed(11)) // refreshes a: b is now the oldest
      yield* lastGood.forKey("c")(Effect.succeed(3)) // evicts b
      expect(yield* Effect.flip(lastGood.forKey("b")(Effect.fail("down")))).toBe("down")
      expect(yield* lastGood.forKey("a")(Effect.fail("down"))).toBe(11)
      expect(yield* lastGood.forKey("c")(Effect.fail("down"))).toBe(3)
      yield* TestClock.adjust("5 seconds")
      expect(yield* lastGood.get("a")).toEqual(Option.some({ value: 11, age: Duration.millis(5000) }))
      expect(yield* lastGood.get()).toEqual(Option.none())
    }))

  it.effect("metrics: handled failures by outcome, under policy fallback and the fallback's name; none on success", () =>
    Effect.gen(function*() {
      const fallbacks = (service: string, outcome: string) =>
        counterValue("resilience_fallbacks_total", "fallback", service, { outcome })
      const fallback = yield* Fallback.make({
        name: "fallback_metrics_test",
        handles: ["ProviderDown"],
        orElse: () => Effect.succeed(-1)
      })
      yield* fallback.execute(Effect.succeed(1))
      expect(yield* fallbacks("fallback_metrics_test", "served")).toBe(0)
      yield* fallback.execute(Effect.fail(new ProviderDown()))
      yield* Effect.exit(fallback.execute(Effect.fail(new BadSymbol({ symbol: "??" }))))
      expect(yield* fallbacks("fallback_metrics_test", "served")).toBe(1)

      const lastGood = yield* Fallback.lastGood<number>({ name: "last_good_metrics_test", maxAge: "10 seconds" })
      const down = Effect.fail(new ProviderDown())
      yield* Effect.exit(lastGood.execute(down))
      yield* lastGood.execute(Effect.succeed(7))
      yield* TestClock.adjust("5 seconds")
      expect(yield* lastGood.execute(down)).toBe(7)
      yield* TestClock.adjust("6 seconds")
      yield* Effect.exit(lastGood.execute(down))
      const counts = yield* Effect.all(
        ["missing", "stale", "expired", "served"].map((o) => fallbacks("last_good_metrics_test", o))
      )
      expect(counts).toEqual([1, 1, 1, 0])
    }))

  it.effect("invalid options are a typed InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      const noOrElse = yield* Effect.flip(Fallback.make({ orElse: 42 as any }))
      expect(noOrElse).toMatchObject({ _tag: "InvalidOptionsError", option: "orElse", rule: "must be a function" })
      const badHandles = yield* Effect.flip(Fallback.value(0, { handles: 7 as any }))
      expect(badHandles).toMatchObject({ option: "handles" })
      const badAge = yield* Effect.flip(Fallback.lastGood<number>({ maxAge: 0 }))
      expect(badAge).toMatchObject({ policy: "Fallback", option: "maxAge", rule: "must be a finite duration > 0" })
      const negative = yield* Effect.flip(Fallback.lastGood<number>({ maxAge: -5 }))
      expect(negative).toMatchObject({ option: "maxAge", rule: "must be >= 0" })
      const badKeys = yield* Effect.flip(Fallback.lastGood<number>({ maxAge: "1 second", maxKeys: 0 }))
      expect(badKeys).toMatchObject({ option: "maxKeys", rule: "must be an integer >= 1" })
      const badName = yield* Effect.flip(Fallback.value(0, { name: "" }))
      expect(badName).toMatchObject({ option: "name" })
    }))
})
