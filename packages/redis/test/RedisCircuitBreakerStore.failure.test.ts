import * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Either, Exit, Fiber, Metric, MetricLabel, Option, Stream } from "effect"
import { Redis } from "ioredis"
import { afterEach, beforeEach } from "vitest"
import { type RedisServer, startRedis } from "./support/redisServer.js"

// Every test here owns its redis-server: it kills, pauses and restarts it.
let server: RedisServer
beforeEach(async () => {
  server = await startRedis()
})
afterEach(async () => {
  await server.stop()
})

let counter = 0
const freshPrefix = () => `cbfail:${process.pid}:${counter++}:`

// The command deadline. Generous (a second): a healthy reply that misses it on a
// busy machine would count as a failure.
const TIMEOUT_MILLIS = 1_000

// What "no hang" means here: a dead or paused Redis never answers, so a caller
// left waiting on it waits forever. The bound is seconds away from what a
// correct store takes (at most one deadline); the outcomes carry the rest.
const NO_HANG_MILLIS = 5_000

const makeStore = (prefix: string) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    prefix,
    commandTimeout: TIMEOUT_MILLIS,
    // Reconnect quickly after a restart, so the test does not sit in backoff.
    redisOptions: { retryStrategy: () => 50 }
  })

/** Runs `effect` and returns its outcome and how long it took (wall clock, ms). */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const result = yield* Effect.either(effect)
    return [result, performance.now() - start] as const
  })

const errors = (prefix: string, operation: string, reason: string) =>
  Metric.value(
    Metric.taggedWithLabels(RedisCircuitBreakerStore.storeErrors, [
      MetricLabel.make("policy", "circuit_breaker_store"),
      MetricLabel.make("service", prefix),
      MetricLabel.make("operation", operation),
      MetricLabel.make("store", "redis"),
      MetricLabel.make("reason", reason)
    ])
  ).pipe(Effect.map((state) => state.count))

/** Retries `effect` every 50 ms until it succeeds (Redis is back), for at most ~10 s. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      const result = yield* Effect.either(effect)
      if (Either.isRight(result)) return result.right
      if (attempt >= 200) return yield* Effect.fail(result.left)
      yield* Effect.sleep("50 millis")
    }
  })

describe("RedisCircuitBreakerStore when Redis fails", () => {
  it.scopedLive("a healthy Redis is not timed out when the event loop stalls past the deadline", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisCircuitBreakerStore.make({ url: server.url, prefix, commandTimeout: "50 millis" })
      yield* store.compareAndSet("k", 0, "closed", "1 minute")
      for (let round = 0; round < 3; round++) {
        // The command is sent, then the event loop is held for 20 deadlines (a long task, a GC pause): Redis
        // answered long before it is free again, and the reply waits in the socket.
        const reading = yield* Effect.fork(store.read("k"))
        yield* Effect.yieldNow()
        yield* Effect.sync(() => {
          const until = performance.now() + 1_000
          while (performance.now() < until) {
            // busy
          }
        })
        const read = yield* Fiber.join(reading)
        expect(Option.getOrThrow(read.entry).value).toBe("closed")
      }
      expect(yield* errors(prefix, "read", "timeout")).toBe(0)
    }))

  it.scopedLive("a killed redis-server: every call fails with CircuitBreakerStoreError at once, streams fail", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      yield* store.compareAndSet("k", 0, "closed", "1 minute")
      const stream = yield* store.changes("k")
      const watching = yield* Effect.fork(Stream.runCollect(stream))
      yield* Effect.promise(() => server.kill())

      // the stream fails: the push channel is gone
      const streamExit = yield* Fiber.await(watching)
      expect(Exit.isFailure(streamExit)).toBe(true)
      if (Exit.isFailure(streamExit)) {
        const error = Option.getOrThrow(Cause.failureOption(streamExit.cause))
        expect(error).toBeInstanceOf(CircuitBreakerStore.CircuitBreakerStoreError)
        expect(error.operation).toBe("changes")
      }

      for (
        const call of [
          store.read("k") as Effect.Effect<unknown, CircuitBreakerStore.CircuitBreakerStoreError>,
          store.compareAndSet("k", 1, "open", "1 minute"),
          Effect.scoped(store.changes("k"))
        ]
      ) {
        const [result, millis] = yield* timed(call)
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CircuitBreakerStore.CircuitBreakerStoreError)
        expect(millis).toBeLessThan(NO_HANG_MILLIS)
      }
      expect(yield* errors(prefix, "read", "connection")).toBeGreaterThanOrEqual(1)
      expect(yield* errors(prefix, "compareAndSet", "connection")).toBeGreaterThanOrEqual(1)
      expect(yield* errors(prefix, "changes", "connection")).toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("a lost subscriber connection fails the streams; subscribing again works at once", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      const stream = yield* store.changes("k")
      const watching = yield* Effect.fork(Stream.runCollect(stream))
      // only the pub/sub connection goes: the command connection stays up
      const raw = new Redis(server.url)
      yield* Effect.addFinalizer(() => Effect.sync(() => raw.disconnect()))
      yield* Effect.promise(() => raw.client("KILL", "TYPE", "pubsub"))
      const exit = yield* Fiber.await(watching)
      expect(Exit.isFailure(exit)).toBe(true)
      // the owner re-subscribes (the subscriber reconnects within its retry delay) and sees the next write
      const again = yield* eventually(store.changes("k"))
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(again, 1)))
      yield* store.compareAndSet("k", 0, "after", "1 minute")
      expect(Chunk.toArray(yield* Fiber.join(seen))).toEqual([{ version: 1, value: "after" }])
    }))

  it.scopedLive("a restarted redis-server: writes, reads and pushes work again without a new store", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      const other = yield* makeStore(prefix)
      yield* store.compareAndSet("k", 0, "before", "1 minute")
      yield* Effect.promise(() => server.restart())
      // the restarted server is empty (no persistence): the key starts again from version 0
      const written = yield* eventually(store.compareAndSet("k", 0, "after", "1 minute"))
      expect(written._tag).toBe("Written")
      const stream = yield* eventually(other.changes("k"))
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(stream, 1)))
      yield* store.compareAndSet("k", 1, "pushed", "1 minute")
      expect(Chunk.toArray(yield* Fiber.join(seen))).toEqual([{ version: 2, value: "pushed" }])
      expect(Option.getOrThrow((yield* other.read("k")).entry).value).toBe("pushed")
    }))

  it.scopedLive("a hung redis-server (SIGSTOP): calls fail by the deadline, never hang; it answers again after SIGCONT", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      yield* store.compareAndSet("k", 0, "closed", "1 minute")
      server.pause()
      try {
        const results = yield* Effect.all(
          Array.from(
            { length: 20 },
            (_, i) =>
              timed<unknown, CircuitBreakerStore.CircuitBreakerStoreError, never>(
                i % 2 === 0 ? store.read("k") : store.compareAndSet("k", 1, "x", 60_000)
              )
          ),
          { concurrency: "unbounded" }
        )
        for (const [result, millis] of results) {
          expect(Either.isLeft(result)).toBe(true)
          expect(millis).toBeLessThan(NO_HANG_MILLIS)
        }
        expect((yield* errors(prefix, "read", "timeout")) + (yield* errors(prefix, "compareAndSet", "timeout")))
          .toBeGreaterThanOrEqual(1)
      } finally {
        server.resume()
      }
      const read = yield* eventually(store.read("k"))
      expect(Option.isSome(read.entry)).toBe(true)
    }))

  it.scopedLive("a Redis that is down when the store starts: make succeeds, calls fail fast, then it connects", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => server.kill())
      const prefix = freshPrefix()
      const [made, makeMillis] = yield* timed(makeStore(prefix))
      expect(makeMillis).toBeLessThan(NO_HANG_MILLIS)
      expect(Either.isRight(made)).toBe(true)
      if (Either.isLeft(made)) return
      const store = made.right
      const [result, millis] = yield* timed(store.read("k"))
      expect(Either.isLeft(result)).toBe(true)
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
      yield* Effect.promise(() => server.restart())
      expect((yield* eventually(store.compareAndSet("k", 0, "v", "1 minute")))._tag).toBe("Written")
    }))
})
