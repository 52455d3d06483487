/**
 * The `CircuitBreakerStore` contract as a reusable suite: run it against any
 * store layer (the memory store here, the Redis store in
 * `@effect-resilience/redis`) to check the model of `CircuitBreakerStore.ts`.
 *
 * `advance(millis)` makes the store's clock pass `millis` (a `TestClock`
 * adjustment for the memory store; a real sleep, with `live: true`, for a
 * server). Keys are unique per run, so a shared server needs no flush.
 */
import type { CircuitBreakerStore } from "@effect-resilience/core"
import { CircuitBreakerStore as Store } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"

export interface ContractOptions {
  /** Make the store's clock pass this many millis. */
  readonly advance: (millis: number) => Effect.Effect<void>
  /** Run on the live clock (`it.live`) instead of the `TestClock` (`it.effect`). @default false */
  readonly live?: boolean | undefined
  /** A time to live the suite may wait out with `advance`. @default 1000 */
  readonly ttlMillis?: number | undefined
}

let run = 0

export const circuitBreakerStoreContract = (
  name: string,
  layer: Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, unknown>,
  options: ContractOptions
): void => {
  const test = options.live === true ? it.live : it.effect
  const ttl = options.ttlMillis ?? 1000
  const prefix = `contract-${Date.now().toString(36)}-${(run++).toString(36)}`
  let n = 0
  const freshKey = (label: string) => `${prefix}/${label}-${n++}`
  const withStore = <A>(f: (store: CircuitBreakerStore.Service) => Effect.Effect<A, unknown, any>) =>
    Effect.scoped(Effect.flatMap(Store.CircuitBreakerStore, f)).pipe(Effect.provide(layer)) as Effect.Effect<
      A,
      unknown
    >

  describe(`CircuitBreakerStore contract: ${name}`, () => {
    test("an absent key reads as none; a write with expectedVersion 0 creates version 1", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("create")
          const before = yield* store.read(key)
          expect(Option.isNone(before.entry)).toBe(true)
          expect(typeof before.now).toBe("number")
          const written = yield* store.compareAndSet(key, 0, "v1", ttl)
          expect(written._tag).toBe("Written")
          if (written._tag === "Written") expect(written.version).toBe(1)
          const after = yield* store.read(key)
          expect(Option.getOrThrow(after.entry)).toEqual({ version: 1, value: "v1" })
        })
      ))

    test("versions grow by one per write; a stale expectedVersion conflicts, writes nothing and returns the current entry", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("versions")
          yield* store.compareAndSet(key, 0, "a", ttl)
          const second = yield* store.compareAndSet(key, 1, "b", ttl)
          expect(second).toMatchObject({ _tag: "Written", version: 2 })
          const stale = yield* store.compareAndSet(key, 1, "stale", ttl)
          expect(stale._tag).toBe("Conflict")
          if (stale._tag === "Conflict") expect(Option.getOrThrow(stale.current)).toEqual({ version: 2, value: "b" })
          const create = yield* store.compareAndSet(key, 0, "again", ttl)
          expect(create._tag).toBe("Conflict")
          const read = yield* store.read(key)
          expect(Option.getOrThrow(read.entry)).toEqual({ version: 2, value: "b" })
        })
      ))

    test("a write to an absent key with expectedVersion > 0 conflicts with none", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const result = yield* store.compareAndSet(freshKey("absent"), 3, "x", ttl)
          expect(result._tag).toBe("Conflict")
          if (result._tag === "Conflict") expect(Option.isNone(result.current)).toBe(true)
        })
      ))

    test("of concurrent writers expecting the same version exactly one wins", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("race")
          yield* store.compareAndSet(key, 0, "start", ttl)
          const results = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) => store.compareAndSet(key, 1, `w${i}`, ttl)),
            { concurrency: "unbounded" }
          )
          expect(results.filter((r) => r._tag === "Written")).toHaveLength(1)
          const read = yield* store.read(key)
          expect(Option.getOrThrow(read.entry).version).toBe(2)
        })
      ))

    test("changes pushes every write made after subscribing, in version order", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("push")
          yield* store.compareAndSet(key, 0, "before", ttl)
          const stream = yield* store.changes(key)
          const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(stream, 3)))
          yield* store.compareAndSet(key, 1, "one", ttl)
          yield* store.compareAndSet(key, 2, "two", ttl)
          yield* store.compareAndSet(key, 3, "three", ttl)
          const pushed = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
          expect(pushed).toEqual([
            { version: 2, value: "one" },
            { version: 3, value: "two" },
            { version: 4, value: "three" }
          ])
        })
      ))

    test("changes of one key do not carry another key's writes", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("mine")
          const other = freshKey("other")
          const stream = yield* store.changes(key)
          const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(stream, 1)))
          yield* store.compareAndSet(other, 0, "not mine", ttl)
          yield* store.compareAndSet(key, 0, "mine", ttl)
          expect(Chunk.toReadonlyArray(yield* Fiber.join(fiber))).toEqual([{ version: 1, value: "mine" }])
        })
      ))

    test("every write sets the time to live: the key expires, then starts again at version 1", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("ttl")
          yield* store.compareAndSet(key, 0, "a", ttl)
          yield* options.advance(ttl / 2)
          // renewed by this write
          yield* store.compareAndSet(key, 1, "b", ttl)
          yield* options.advance(ttl * 0.75)
          expect(Option.isSome((yield* store.read(key)).entry)).toBe(true)
          yield* options.advance(ttl)
          expect(Option.isNone((yield* store.read(key)).entry)).toBe(true)
          const again = yield* store.compareAndSet(key, 0, "c", ttl)
          expect(again).toMatchObject({ _tag: "Written", version: 1 })
        })
      ))

    test("replies carry the store's clock, which does not go back", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("clock")
          const first = yield* store.read(key)
          yield* options.advance(50)
          const written = yield* store.compareAndSet(key, 0, "x", ttl)
          const conflict = yield* store.compareAndSet(key, 0, "y", ttl)
          expect(written.now).toBeGreaterThanOrEqual(first.now + 50)
          expect(conflict.now).toBeGreaterThanOrEqual(written.now)
        })
      ))

    test("keys are any string (braces, unicode, long) and values are kept byte for byte", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const keys = [`${prefix}/{tag}/a`, `${prefix}/ünïcødé ✓`, `${prefix}/${"k".repeat(600)}`]
          const value = JSON.stringify({ s: "ünïcødé \"quoted\" \n", n: [1, 2.5, -3] })
          for (const key of keys) {
            yield* store.compareAndSet(key, 0, value, ttl)
            expect(Option.getOrThrow((yield* store.read(key)).entry)).toEqual({ version: 1, value })
          }
        })
      ))
  })
}
