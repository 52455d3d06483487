import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import { afterAll, beforeAll } from "vitest"
import { type RedisCluster, startCluster } from "./support/redisServer.js"

// One real 3-master cluster for the file.
let cluster: RedisCluster
beforeAll(async () => {
  cluster = await startCluster(3)
}, 20_000)
afterAll(async () => {
  await cluster?.stop()
})

let counter = 0
const freshPrefix = () => `cbcluster:${process.pid}:${counter++}:`

const makeStore = (prefix: string) =>
  RedisCircuitBreakerStore.make({ cluster: { nodes: cluster.nodes }, prefix, commandTimeout: "10 seconds" })

/** The keys under `prefix` on each master. */
const keysPerMaster = (prefix: string) =>
  Effect.promise(() =>
    Promise.all(
      cluster.servers.map(async (server) =>
        (await cluster.cli(server.port, "--scan", "--pattern", `${prefix}*`)).split("\n").filter((l) => l.length > 0)
      )
    )
  )

describe("RedisCircuitBreakerStore on a Redis Cluster", () => {
  it.scopedLive("breakers spread over the masters; each one's reads, writes and pushes work across instances", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const a = yield* makeStore(prefix)
      const b = yield* makeStore(prefix)
      const keys = Array.from({ length: 30 }, (_, i) => `service-${i}/resource`)
      // a push for every key, whichever master holds it (classic PUBLISH reaches every node)
      const watching = yield* Effect.forEach(
        keys,
        (key) => Effect.flatMap(b.changes(key), (stream) => Effect.fork(Stream.runCollect(Stream.take(stream, 1))))
      )
      for (const key of keys) {
        expect((yield* a.compareAndSet(key, 0, `open:${key}`, "1 minute"))._tag).toBe("Written")
      }
      for (const [i, key] of keys.entries()) {
        expect(Chunk.toArray(yield* Fiber.join(watching[i]))).toEqual([{ version: 1, value: `open:${key}` }])
        expect(Option.getOrThrow((yield* b.read(key)).entry).value).toBe(`open:${key}`)
        const conflict = yield* b.compareAndSet(key, 0, "late", "1 minute")
        expect(conflict._tag).toBe("Conflict")
      }
      const perMaster = yield* keysPerMaster(prefix)
      expect(perMaster.flat()).toHaveLength(keys.length)
      // 30 keys over 3 masters: every master holds some (the hash tag is the breaker's own key)
      for (const held of perMaster) expect(held.length).toBeGreaterThan(0)
    }))
})
