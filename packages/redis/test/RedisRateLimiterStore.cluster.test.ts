import type * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import * as Store from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { afterAll, beforeAll } from "vitest"
import { type RedisCluster, startCluster } from "./support/redisServer.js"

// One real 3-master cluster for the file; the last test kills a master.
let cluster: RedisCluster
beforeAll(async () => {
  cluster = await startCluster(3)
}, 20_000)
afterAll(async () => {
  await cluster?.stop()
})

let counter = 0
const freshPrefix = () => `cluster:${process.pid}:${counter++}:`

// The decision budget of the killed-master test; the others get seconds, so a
// busy machine never turns a slow answer into a failure.
const TIMEOUT_MILLIS = 1_000

const options = (
  prefix: string,
  onError: RedisRateLimiterStore.FailureMode = "fail",
  timeoutMillis = 10_000
): RedisRateLimiterStore.Options => ({
  cluster: { nodes: cluster.nodes },
  prefix,
  onError,
  timeout: Duration.millis(timeoutMillis),
  probeInterval: "100 millis"
})

// ~1000 s per token: nothing refills while the test runs.
const RATE = 0.001

const one = (key: string, burstSize: number): RateLimiterStore.Request => ({
  buckets: [{ key, tokensPerSecond: RATE, burstSize }],
  cost: 1,
  maxWaitMillis: 0
})

/** The keys under `prefix` on each master, in the order of `cluster.servers`. */
const keysPerMaster = (prefix: string) =>
  Effect.promise(() =>
    Promise.all(
      cluster.servers.map(async (server) =>
        (await cluster.cli(server.port, "--scan", "--pattern", `${prefix}*`)).split("\n").filter((l) => l.length > 0)
      )
    )
  )

const keySlot = (key: string) =>
  Effect.promise(() => cluster.cli(cluster.servers[0].port, "CLUSTER", "KEYSLOT", key)).pipe(
    Effect.map((out) => Number(out.trim()))
  )

const quiet = Logger.withMinimumLogLevel(LogLevel.None)

describe("RedisRateLimiterStore on Redis Cluster", () => {
  it.scopedLive("exact decisions for many client keys, spread over every master", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options(prefix))
      const keys = Array.from({ length: 60 }, (_, i) => `client-${i}`)
      const results = yield* Effect.forEach(
        keys,
        (key) => Effect.all(Array.from({ length: 4 }, () => store.consume(one(key, 3)))),
        { concurrency: "unbounded" }
      )
      for (const decisions of results) {
        expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false])
        expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0])
        // The next token is due one interval (1000 s) after the first was taken.
        expect(decisions[3].retryAfterMillis).toBeGreaterThan(990_000)
        expect(decisions[3].retryAfterMillis).toBeLessThanOrEqual(1_000_000)
      }
      const perMaster = yield* keysPerMaster(prefix)
      expect(perMaster.flat().sort()).toEqual(keys.map((key) => `${prefix}{${key}}`).sort())
      // 60 keys over 3 masters: each holds some (all empty but one: ~(2/3)^60).
      for (const onMaster of perMaster) expect(onMaster.length).toBeGreaterThan(0)
      const slots = new Set(yield* Effect.forEach(keys.slice(0, 10), (key) => keySlot(`${prefix}{${key}}`)))
      expect(slots.size).toBeGreaterThan(1)
    }))

  it.scopedLive("client + global buckets: one slot per decision, a rejection by either consumes from neither", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options(prefix))
      const request = (client: string): RateLimiterStore.Request => ({
        buckets: [{ key: client, tokensPerSecond: RATE, burstSize: 5 }, {
          key: "global",
          tokensPerSecond: RATE,
          burstSize: 8
        }],
        cost: 1,
        maxWaitMillis: 0
      })
      const a = yield* Effect.all(Array.from({ length: 6 }, () => store.consume(request("a"))))
      expect(a.map((d) => d.allowed)).toEqual([true, true, true, true, true, false])
      expect(a[5].rejectedBy).toBe("a")
      const b = yield* Effect.all(Array.from({ length: 4 }, () => store.consume(request("b"))))
      expect(b.map((d) => d.allowed)).toEqual([true, true, true, false])
      expect(b[3].rejectedBy).toBe("global")
      expect(b[3].retryAfterMillis).toBeGreaterThan(990_000)
      // "a"'s 6th call, rejected by its own bucket, took nothing from the
      // global one: b got exactly the 3 tokens left of 8.
      expect(b[2].remaining).toBe(0)

      const all = (yield* keysPerMaster(prefix)).flat().sort()
      expect(all).toEqual([`${prefix}{global}`, `${prefix}{global}a`, `${prefix}{global}b`])
      const slots = new Set(yield* Effect.forEach(all, keySlot))
      expect(slots.size).toBe(1)
    }))

  it.scopedLive("layerConfig: RATE_LIMITER_REDIS_CLUSTER_NODES connects to the cluster", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const provider = ConfigProvider.fromMap(
        new Map([
          ["RATE_LIMITER_REDIS_CLUSTER_NODES", cluster.nodes.join(" , ")],
          ["RATE_LIMITER_REDIS_PREFIX", prefix],
          ["RATE_LIMITER_REDIS_ON_ERROR", "fail"],
          // not the 50 ms default: on a busy machine a slow reply must not fail the test
          ["RATE_LIMITER_REDIS_TIMEOUT", "10 seconds"]
        ]),
        { pathDelim: "_" }
      )
      const store = yield* Layer.build(
        RedisRateLimiterStore.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      ).pipe(Effect.map((context) => context.unsafeMap.get(Store.RateLimiterStore.key) as Store.Service))
      expect((yield* store.consume(one("cfg", 2))).allowed).toBe(true)
      expect((yield* keysPerMaster(prefix)).flat()).toEqual([`${prefix}{cfg}`])
    }))

  it.scopedLive("a killed master → the failure mode answers, without hanging", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make(options(prefix, "fail-closed", TIMEOUT_MILLIS))
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
      yield* Effect.forEach(keys, (key) => store.consume(one(key, 100)), { concurrency: "unbounded" })
      const perMaster = yield* keysPerMaster(prefix)
      const victim = perMaster.findIndex((onMaster) => onMaster.length > 0)
      const onVictim = keys.filter((key) => perMaster[victim].includes(`${prefix}{${key}}`))
      yield* Effect.promise(() => cluster.servers[victim].kill())

      const start = performance.now()
      const decisions = yield* Effect.all(onVictim.map((key) => store.consume(one(key, 100))), {
        concurrency: "unbounded"
      })
      // a dead master never answers: "without hanging" is any bound, so a generous one
      expect(performance.now() - start).toBeLessThan(TIMEOUT_MILLIS + 5_000)
      for (const d of decisions) {
        expect(d.allowed).toBe(false)
        expect(d.retryAfterMillis).toBe(100) // fail-closed: the probe interval
      }
    }).pipe(quiet))
})
