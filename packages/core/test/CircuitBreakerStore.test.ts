import { CircuitBreakerStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, TestClock } from "effect"
import { circuitBreakerStoreContract } from "./utils/circuitBreakerStoreContract.js"

circuitBreakerStoreContract("memory", CircuitBreakerStore.layerMemory(), {
  advance: (millis) => TestClock.adjust(millis)
})

describe("CircuitBreakerStore.makeMemory", () => {
  it.effect("rejects a maxKeys that is not an integer >= 1", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(CircuitBreakerStore.makeMemory({ maxKeys: 0 }))
      expect(Either.isLeft(result) && result.left._tag).toBe("InvalidOptionsError")
    }))

  it.effect("is bounded: past maxKeys a new key fails with CircuitBreakerStoreError until one expires", () =>
    Effect.gen(function*() {
      const store = yield* CircuitBreakerStore.makeMemory({ maxKeys: 2 })
      yield* store.compareAndSet("a", 0, "x", 1000)
      yield* store.compareAndSet("b", 0, "x", 5000)
      const full = yield* Effect.either(store.compareAndSet("c", 0, "x", 1000))
      expect(Either.isLeft(full) && full.left._tag).toBe("CircuitBreakerStoreError")
      // existing keys still take writes
      expect((yield* store.compareAndSet("a", 1, "y", 1000))._tag).toBe("Written")
      yield* TestClock.adjust(1001)
      expect((yield* store.compareAndSet("c", 0, "x", 1000))._tag).toBe("Written")
      expect(Option.isNone((yield* store.read("a")).entry)).toBe(true)
    }))

  it.effect("refuses a ttl that is not a finite duration > 0", () =>
    Effect.gen(function*() {
      const store = yield* CircuitBreakerStore.makeMemory()
      const result = yield* Effect.either(store.compareAndSet("a", 0, "x", 0))
      expect(Either.isLeft(result) && result.left._tag).toBe("CircuitBreakerStoreError")
    }))
})
