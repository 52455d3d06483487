import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, HashMap, Logger, LogLevel, Metric, MetricLabel } from "effect"
import { Redis } from "ioredis"
import { afterEach, beforeEach } from "vitest"
import { freePort, type RedisServer, startRedis } from "./support/redisServer.js"

// Every test here owns its redis-server: it kills, pauses and restarts it.
let server: RedisServer
beforeEach(async () => {
  server = await startRedis()
})
afterEach(async () => {
  await server.stop()
})

let counter = 0
const freshPrefix = () => `fail:${process.pid}:${counter++}:`

const b = [{ key: "k", tokensPerSecond: 0.001, burstSize: 3 }]
const request: RateLimiterStore.Request = { buckets: b, cost: 1, maxWaitMillis: 0 }

// The decision budget. Generous (a second), because CI machines are busy: a
// healthy call that misses it would already count as a failure.
const TIMEOUT_MILLIS = 1_000

// What "no hang" means in these tests: a dead or paused Redis never answers,
// so a caller left waiting on it waits forever. The wall-clock bounds below
// are seconds away from what a correct store takes (about one budget), so a
// busy machine cannot turn them red; the outcomes carry the rest.
const NO_HANG_MILLIS = 5_000

const options = (mode: RedisRateLimiterStore.FailureMode, prefix: string): RedisRateLimiterStore.Options => ({
  url: server.url,
  prefix,
  onError: mode,
  timeout: Duration.millis(TIMEOUT_MILLIS),
  probeInterval: "100 millis",
  // Reconnect quickly after a restart, so the test does not sit in backoff.
  redisOptions: { retryStrategy: () => 50 }
})

const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

/** Runs `effect` and returns how long it took (wall clock, ms). */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

// the label scheme of core's Observability: policy, service (the key prefix), operation, then the store's own
const labels = (prefix: string, ...extra: Array<MetricLabel.MetricLabel>) => [
  MetricLabel.make("policy", "rate_limiter_store"),
  MetricLabel.make("service", prefix),
  MetricLabel.make("operation", ""),
  MetricLabel.make("store", "redis"),
  ...extra
]

const gauge = (prefix: string) =>
  Metric.value(Metric.taggedWithLabels(RedisRateLimiterStore.degraded, labels(prefix))).pipe(
    Effect.map((state) => state.value)
  )

const errorCount = (prefix: string, reason: string) =>
  Metric.value(
    Metric.taggedWithLabels(RedisRateLimiterStore.storeErrors, labels(prefix, MetricLabel.make("reason", reason)))
  ).pipe(Effect.map((state) => state.count))

/** A logger that records (level, message, annotations) triples. */
const capture = () => {
  const logs: Array<
    { readonly level: string; readonly message: string; readonly annotations: Readonly<Record<string, unknown>> }
  > = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    logs.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return { logs, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Until the key shows up in (the restarted) Redis: decisions are made by Redis again. */
const untilDecidedByRedis = (
  store: RateLimiterStore.Service,
  key: string
) =>
  Effect.gen(function*() {
    const probe = new Redis(server.url)
    try {
      const deadline = Date.now() + 5_000
      while (Date.now() < deadline) {
        yield* store.consume(request)
        if ((yield* Effect.promise(() => probe.exists(key))) === 1) return true
        yield* sleep(20)
      }
      return false
    } finally {
      probe.disconnect()
    }
  })

describe("RedisRateLimiterStore when Redis fails", () => {
  it.scopedLive("a healthy Redis is not declared degraded when the event loop stalls past the budget", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make({ ...options("fail", prefix), timeout: "50 millis" })
      expect((yield* store.consume(request)).allowed).toBe(true)
      for (let round = 0; round < 3; round++) {
        // The decision is sent, then the event loop is held for 20 budgets (a long task, a GC pause, a busy
        // machine): Redis answered long before it is free again, and the reply is waiting in the socket.
        const decision = yield* Effect.fork(store.peek(request))
        yield* Effect.yieldNow() // the decision is on the wire
        yield* Effect.sync(() => {
          const until = performance.now() + 1_000
          while (performance.now() < until) {
            // busy
          }
        })
        const exit = yield* decision.await
        expect(exit._tag, String(exit._tag === "Failure" ? exit.cause : "")).toBe("Success")
      }
      expect(yield* gauge(prefix)).toBe(0)
      expect(yield* errorCount(prefix, "timeout")).toBe(0)
    }))

  it.scopedLive("fallback-memory: killed → a local limiter over the same buckets; restarted → Redis again", () => {
    const { layer, logs } = capture()
    return Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fallback-memory", prefix))
      expect((yield* store.consume(request)).allowed).toBe(true)
      expect(yield* gauge(prefix)).toBe(0) // that one came from Redis
      yield* Effect.promise(() => server.kill())

      // The local bucket starts full: 3 admitted, then rejected. Each decision is
      // bounded by the budget, and once degraded it does not wait at all: 60
      // calls one after the other, had each waited the budget, would take 60 s;
      // a degraded store takes about one budget. The bound sits seconds from both.
      const calls = 60
      const [decisions, millis] = yield* timed(Effect.all(Array.from({ length: calls }, () => store.consume(request))))
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, ...Array(calls - 3).fill(false)])
      expect(decisions[3].retryAfterMillis).toBeGreaterThan(900_000)
      expect(millis).toBeLessThan((calls * TIMEOUT_MILLIS) / 4)
      expect(yield* gauge(prefix)).toBe(1)
      expect(yield* errorCount(prefix, "connection")).toBeGreaterThanOrEqual(1)

      yield* Effect.promise(() => server.restart())
      expect(yield* untilDecidedByRedis(store, `${prefix}{k}`)).toBe(true)
      expect(yield* gauge(prefix)).toBe(0)
      // The restarted Redis is empty: its bucket holds 3 again, minus what was just taken.
      const d = yield* store.consume(request)
      expect(d.allowed).toBe(true)
      expect(d.remaining).toBe(1)

      const warnings = logs.filter((l) => l.level === "WARN")
      const infos = logs.filter((l) => l.level === "INFO" && l.message.includes("recovered"))
      expect(warnings.length).toBe(1)
      expect(warnings[0].message).toContain("degraded")
      expect(infos.length).toBe(1)
      // the one recovery line counts what the episode affected: at least the 10 decisions above
      expect(infos[0].annotations["decisionsAnsweredBy"]).toBe("fallback-memory")
      expect(infos[0].annotations["decisions"]).toBeGreaterThanOrEqual(10)
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Info))
  })

  // The other tests keep the store's warnings out of the test output.
  const quiet = Logger.withMinimumLogLevel(LogLevel.None)

  it.scopedLive("fail-open: killed → every call admitted, no hang", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fail-open", prefix))
      yield* Effect.promise(() => server.kill())
      const [decisions, millis] = yield* timed(
        Effect.all(Array.from({ length: 200 }, () => store.consume(request)), { concurrency: 16 })
      )
      expect(decisions.every((d) => d.allowed)).toBe(true)
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
      yield* Effect.promise(() => server.restart())
      expect(yield* untilDecidedByRedis(store, `${prefix}{k}`)).toBe(true)
    }).pipe(quiet))

  it.scopedLive("fail-closed: killed → every call rejected with retryAfter = the probe interval", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fail-closed", prefix))
      expect((yield* store.consume(request)).allowed).toBe(true)
      yield* Effect.promise(() => server.kill())
      const [decisions, millis] = yield* timed(
        Effect.all(Array.from({ length: 200 }, () => store.consume(request)), { concurrency: 16 })
      )
      expect(decisions.every((d) => !d.allowed && d.retryAfterMillis === 100 && d.rejectedBy === "k")).toBe(true)
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
    }).pipe(quiet))

  it.scopedLive("fail: killed → RateLimiterStoreError, and Redis again after a restart", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fail", prefix))
      yield* Effect.promise(() => server.kill())
      const error = yield* Effect.flip(store.consume(request))
      expect(error).toBeInstanceOf(RateLimiterStore.RateLimiterStoreError)
      expect(error.store).toBe("redis")
      yield* Effect.promise(() => server.restart())
      const deadline = Date.now() + 5_000
      let ok = false
      while (!ok && Date.now() < deadline) {
        ok = (yield* Effect.either(store.consume(request)))._tag === "Right"
        if (!ok) yield* sleep(20)
      }
      expect(ok).toBe(true)
    }).pipe(quiet))

  it.scopedLive("killed with batches in flight: every caller of every batch gets its answer, none hangs", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fail", prefix))
      expect((yield* store.consume(request)).allowed).toBe(true)
      // Paused first, so the batches are surely in flight (sent, unanswered) when the server dies.
      server.pause()
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 60 }, () => Effect.either(store.consume(request))), { concurrency: 60 })
      )
      yield* sleep(20)
      yield* Effect.promise(() => server.kill())
      const [outcomes, millis] = yield* timed(fiber.await.pipe(Effect.flatten))
      expect(outcomes.length).toBe(60)
      for (const outcome of outcomes) {
        expect(outcome._tag).toBe("Left")
        if (outcome._tag === "Left") expect(outcome.left).toBeInstanceOf(RateLimiterStore.RateLimiterStoreError)
      }
      // the dropped connection answered them (or the budget did): none hangs
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
    }).pipe(quiet))

  it.scopedLive("a hung Redis (SIGSTOP): answers within the budget, recovers after SIGCONT", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options("fail-closed", prefix))
      expect((yield* store.consume(request)).allowed).toBe(true)
      server.pause()
      const [decisions, millis] = yield* timed(
        Effect.all(Array.from({ length: 50 }, () => store.consume(request)), { concurrency: 50 })
      )
      // Every call was answered by the budget, not by the (never answering) server.
      expect(decisions.every((d) => !d.allowed)).toBe(true)
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
      expect(yield* errorCount(prefix, "timeout")).toBeGreaterThanOrEqual(1)
      // Later calls do not wait for the hung server at all (degraded: one probe
      // per interval): 60 calls one after the other would take 60 s if each
      // waited the budget; the bound sits seconds from that and from ~0.
      const calls = 60
      const [, quick] = yield* timed(Effect.all(Array.from({ length: calls }, () => store.consume(request))))
      expect(quick).toBeLessThan((calls * TIMEOUT_MILLIS) / 4)
      server.resume()
      // The timed-out commands may still run once the server wakes up (they
      // only take tokens: stricter, never laxer), so look at a fresh bucket:
      // fail-closed rejects it, Redis admits it.
      const fresh: RateLimiterStore.Request = { ...request, buckets: [{ ...b[0], key: "fresh" }] }
      const deadline = Date.now() + 5_000
      let fromRedis = false
      while (!fromRedis && Date.now() < deadline) {
        fromRedis = (yield* store.consume(fresh)).allowed
        if (!fromRedis) yield* sleep(20)
      }
      expect(fromRedis).toBe(true)
      expect(yield* gauge(prefix)).toBe(0)
    }).pipe(quiet))

  it.scopedLive("Redis down at start: make does not fail, the failure mode answers, Redis is used once it is up", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => server.stop())
      const port = yield* Effect.promise(() => freePort())
      const prefix = freshPrefix()
      const [store, millis] = yield* timed(RedisRateLimiterStore.make({
        ...options("fallback-memory", prefix),
        url: `redis://127.0.0.1:${port}`,
        connectTimeout: "200 millis"
      }))
      // a store that waited for the connection would never be made
      expect(millis).toBeLessThan(NO_HANG_MILLIS)
      expect((yield* store.consume(request)).allowed).toBe(true)
      server = yield* Effect.promise(() => startRedis({ port }))
      expect(yield* untilDecidedByRedis(store, `${prefix}{k}`)).toBe(true)
    }).pipe(quiet))
})
