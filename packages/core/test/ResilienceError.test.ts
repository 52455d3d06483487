import { ResilienceError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Schema } from "effect"

describe("ResilienceError", () => {
  it("retryAfterOf reads a Duration or millis and ignores anything else", () => {
    expect(ResilienceError.retryAfterOf({ retryAfter: Duration.seconds(2) })).toEqual(Option.some(Duration.seconds(2)))
    expect(ResilienceError.retryAfterOf({ retryAfter: 1500 })).toEqual(Option.some(Duration.millis(1500)))
    expect(ResilienceError.retryAfterOf({ retryAfter: -1 })).toEqual(Option.none())
    expect(ResilienceError.retryAfterOf({ retryAfter: "soon" })).toEqual(Option.none())
    expect(ResilienceError.retryAfterOf(null)).toEqual(Option.none())
  })

  it.effect("errors round-trip through their Schema (as JSON over HTTP)", () =>
    Effect.gen(function*() {
      const error = new ResilienceError.CircuitOpenError({
        breaker: "trading_gateway/broker_api",
        state: "Open",
        retryAfter: Duration.seconds(30)
      })
      const encoded = yield* Schema.encode(ResilienceError.ResilienceError)(error)
      expect(encoded).toMatchObject({ _tag: "CircuitOpenError", retryAfter: 30_000 })
      const decoded = yield* Schema.decodeUnknown(ResilienceError.ResilienceError)(JSON.parse(JSON.stringify(encoded)))
      expect(decoded).toBeInstanceOf(ResilienceError.CircuitOpenError)
      expect(decoded.message).toContain("is Open")
      expect(ResilienceError.isResilienceError(decoded)).toBe(true)
      expect(ResilienceError.isResilienceError(new Error("x"))).toBe(false)
    }))

  it.effect("errors are yieldable and caught by tag", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(new ResilienceError.BulkheadRejectedError({ bulkhead: "b", reason: "full" }))
      expect(Exit.isFailure(exit)).toBe(true)
      const tag = yield* new ResilienceError.TimeoutError({ duration: Duration.seconds(1) }).pipe(
        Effect.catchTags({ TimeoutError: (e) => Effect.succeed(e._tag) })
      )
      expect(tag).toBe("TimeoutError")
    }))
})
