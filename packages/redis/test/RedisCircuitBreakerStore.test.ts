import * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, ConfigProvider, Context, Effect, Exit, Fiber, Layer, Option, Scope, Stream } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, inject } from "vitest"
import { circuitBreakerStoreContract } from "../../core/test/utils/circuitBreakerStoreContract.js"
import * as Script from "../src/internal/breakerScript.js"

const url = inject("redisUrl")

// One raw connection to look at what the store wrote (GET, PTTL, KEYS, TIME, PUBSUB…).
let raw: Redis
beforeAll(() => {
  raw = new Redis(url, { lazyConnect: false })
})
afterAll(async () => {
  await raw.quit()
})

let counter = 0
/** A prefix no other test uses. */
const freshPrefix = () => `cbtest:${process.pid}:${Date.now()}:${counter++}:`

// A deadline of seconds: on a busy machine a slow reply must stay a reply.
const makeStore = (options: RedisCircuitBreakerStore.Options = {}) =>
  RedisCircuitBreakerStore.make({ url, prefix: freshPrefix(), commandTimeout: "10 seconds", ...options })

const serverNow = Effect.promise(() => raw.time()).pipe(
  Effect.map(([seconds, micros]) => Number(seconds) * 1000 + Math.floor(Number(micros) / 1000))
)

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** The first `n` changes of `key`, forked: subscribed when this returns. */
const collect = (store: CircuitBreakerStore.Service, key: string, n: number) =>
  Effect.gen(function*() {
    const stream = yield* store.changes(key)
    return yield* Effect.fork(Stream.runCollect(Stream.take(stream, n)).pipe(Effect.map(Chunk.toArray)))
  })

// core's contract suite, on the live clock (the store's clock is Redis's TIME: real time must pass)
circuitBreakerStoreContract("redis", RedisCircuitBreakerStore.layer({ url, commandTimeout: "10 seconds" }), {
  live: true,
  ttlMillis: 1_000,
  advance: (millis) => Effect.sleep(millis)
})

describe("RedisCircuitBreakerStore", () => {
  describe("between instances (each store its own connections)", () => {
    it.scopedLive("of many concurrent writers on two connections expecting the same version exactly one wins", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const shared = [yield* makeStore({ prefix }), yield* makeStore({ prefix })]
        const results = yield* Effect.all(
          Array.from({ length: 50 }, (_, i) => shared[i % 2].compareAndSet("race", 0, `writer-${i}`, "1 minute")),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Written")).toHaveLength(1)
        const winner = Option.getOrThrow((yield* shared[0].read("race")).entry)
        expect(winner.version).toBe(1)
        for (const r of results) {
          if (r._tag === "Conflict") expect(Option.getOrThrow(r.current)).toEqual(winner)
        }
      }))

    it.scopedLive("changes pushes every write, this instance's and others', in version order", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const a = yield* makeStore({ prefix })
        const b = yield* makeStore({ prefix })
        const seen = yield* collect(a, "pushed", 6)
        for (let version = 0; version < 6; version++) {
          yield* (version % 2 === 0 ? a : b).compareAndSet("pushed", version, `s${version + 1}`, "1 minute")
        }
        const entries = yield* Fiber.join(seen)
        expect(entries.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6])
        expect(entries.map((e) => e.value)).toEqual(["s1", "s2", "s3", "s4", "s5", "s6"])
      }))

    it.scopedLive("a conflict publishes nothing", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        yield* store.compareAndSet("quiet", 0, "first", "1 minute")
        const seen = yield* collect(store, "quiet", 1)
        yield* store.compareAndSet("quiet", 0, "conflicts", "1 minute")
        yield* store.compareAndSet("quiet", 1, "second", "1 minute")
        expect(yield* Fiber.join(seen)).toEqual([{ version: 2, value: "second" }])
      }))
  })

  describe("on Redis", () => {
    it.scopedLive("every write sets the key's time to live (PTTL), shorter or longer than before", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const key = RedisCircuitBreakerStore.redisKey(prefix, "ttl")
        yield* store.compareAndSet("ttl", 0, "a", "1 minute")
        const first = yield* promise(() => raw.pttl(key))
        expect(first).toBeGreaterThan(0)
        expect(first).toBeLessThanOrEqual(60_000)
        yield* store.compareAndSet("ttl", 1, "b", "5 seconds")
        const second = yield* promise(() => raw.pttl(key))
        expect(second).toBeGreaterThan(0)
        expect(second).toBeLessThanOrEqual(5_000)
        yield* store.compareAndSet("ttl", 2, "c", "1 hour")
        expect(yield* promise(() => raw.pttl(key))).toBeGreaterThan(60_000)
        // a conflict leaves the TTL alone
        yield* store.compareAndSet("ttl", 0, "x", "1 second")
        expect(yield* promise(() => raw.pttl(key))).toBeGreaterThan(60_000)
      }))

    it.scopedLive("an expired key reads as absent and starts again at version 1", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        yield* store.compareAndSet("expires", 0, "a", 30)
        // Redis expires it on access after 30 ms: poll with a generous bound
        let entry = (yield* store.read("expires")).entry
        for (let i = 0; i < 200 && Option.isSome(entry); i++) {
          yield* Effect.sleep("20 millis")
          entry = (yield* store.read("expires")).entry
        }
        expect(Option.isNone(entry)).toBe(true)
        const again = yield* store.compareAndSet("expires", 0, "b", "1 minute")
        expect(again._tag === "Written" && again.version).toBe(1)
      }))

    it.scopedLive("every key is the prefix, breaker: and the key in a hash tag; hostile keys are hashed", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const keys = ["broker/orders", "{}", "a}b{c", "new\nline", "x".repeat(100_000), "", "spaces are hostile"]
        for (const [i, key] of keys.entries()) {
          const result = yield* store.compareAndSet(key, 0, `value-${i}`, "1 minute")
          expect(result._tag).toBe("Written")
        }
        // each still reads its own value: no two hostile keys collide
        for (const [i, key] of keys.entries()) {
          expect(Option.getOrThrow((yield* store.read(key)).entry).value).toBe(`value-${i}`)
        }
        const stored = yield* promise(() => raw.keys(`${prefix}*`))
        expect(stored).toHaveLength(keys.length)
        for (const key of stored) {
          expect(key).toMatch(/^cbtest:[^{}]*breaker:\{[^{}\s]{1,512}\}$/)
          expect(key.length).toBeLessThan(prefix.length + 600)
        }
        expect(stored).toContain(`${prefix}breaker:{broker/orders}`)
      }))

    it.scoped("`now` is Redis's TIME, not the instance's clock (a TestClock at 0 here)", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const before = yield* serverNow
        const read = yield* store.read("clock")
        const written = yield* store.compareAndSet("clock", 0, "v", "1 minute")
        const conflict = yield* store.compareAndSet("clock", 0, "v", "1 minute")
        const after = yield* serverNow
        for (const now of [read.now, written.now, conflict.now]) {
          expect(Number.isInteger(now)).toBe(true)
          expect(now).toBeGreaterThanOrEqual(before)
          expect(now).toBeLessThanOrEqual(after)
        }
      }))

    it.scopedLive("pushed changes arrive without any poll: the watching store sends Redis no command", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const name = `watcher-${process.pid}-${counter++}`
        // named connections (both of the store's), so CLIENT LIST shows each one's last command
        const watcher = yield* makeStore({ prefix, redisOptions: { connectionName: name } })
        const writer = yield* makeStore({ prefix })
        const lastCommands = promise(() => raw.client("LIST") as Promise<string>).pipe(
          Effect.map((list) =>
            list.split("\n").filter((line) => line.includes(` name=${name} `)).map((line) =>
              /(?:^| )cmd=(\S+)/.exec(line)?.[1]
            ).sort()
          )
        )
        const seen = yield* collect(watcher, "nopoll", 1)
        const before = yield* lastCommands
        expect(before).toHaveLength(2)
        expect(before).toContain("subscribe")
        // the watcher sits idle while time passes, then a write elsewhere reaches it
        yield* Effect.sleep("300 millis")
        yield* writer.compareAndSet("nopoll", 0, "open", "1 minute")
        expect(yield* Fiber.join(seen)).toEqual([{ version: 1, value: "open" }])
        // neither of its connections ran a command meanwhile: no read, no poll
        expect(yield* lastCommands).toEqual(before)
      }))

    it.scopedLive("one SUBSCRIBE per key however many streams watch it; UNSUBSCRIBE when the last one goes", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const channel = RedisCircuitBreakerStore.redisKey(prefix, "shared")
        const subscribers = () =>
          promise(() => raw.pubsub("NUMSUB", channel) as Promise<[string, number]>).pipe(Effect.map((r) => r[1]))
        const first = yield* Scope.make()
        const second = yield* Scope.make()
        const one = yield* Scope.extend(collect(store, "shared", 2), first)
        const two = yield* Scope.extend(collect(store, "shared", 1), second)
        expect(yield* subscribers()).toBe(1)
        yield* store.compareAndSet("shared", 0, "a", "1 minute")
        expect(yield* Fiber.join(two)).toEqual([{ version: 1, value: "a" }])
        yield* Scope.close(second, Exit.void)
        // the other stream still receives
        yield* store.compareAndSet("shared", 1, "b", "1 minute")
        expect((yield* Fiber.join(one)).map((e) => e.value)).toEqual(["a", "b"])
        expect(yield* subscribers()).toBe(1)
        yield* Scope.close(first, Exit.void)
        let count = yield* subscribers()
        for (let i = 0; i < 100 && count !== 0; i++) {
          yield* Effect.sleep("20 millis")
          count = yield* subscribers()
        }
        expect(count).toBe(0)
      }))

    it.scopedLive("a flushed script cache is reloaded (NOSCRIPT → EVAL)", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        yield* promise(() => raw.script("FLUSH"))
        expect((yield* store.compareAndSet("flushed", 0, "v", "1 minute"))._tag).toBe("Written")
        yield* promise(() => raw.script("FLUSH"))
        expect(Option.getOrThrow((yield* store.read("flushed")).entry).value).toBe("v")
        // EVAL cached the read script again (the write's stays flushed until the next write)
        const loaded = yield* promise(() => raw.script("EXISTS", Script.compareAndSetSha1, Script.readSha1))
        expect(loaded).toEqual([0, 1])
      }))

    it.scopedLive("a key holding something else reads as absent and a write at version 0 replaces it", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        yield* promise(() => raw.set(RedisCircuitBreakerStore.redisKey(prefix, "stray"), "not a versioned entry"))
        expect(Option.isNone((yield* store.read("stray")).entry)).toBe(true)
        const result = yield* store.compareAndSet("stray", 0, "mine", "1 minute")
        expect(result._tag === "Written" && result.version).toBe(1)
      }))

    it.scopedLive("bad input is a CircuitBreakerStoreError naming what is wrong, and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const cases: Array<Effect.Effect<unknown, CircuitBreakerStore.CircuitBreakerStoreError>> = [
          store.compareAndSet("bad", -1, "v", "1 minute"),
          store.compareAndSet("bad", 1.5, "v", "1 minute"),
          store.compareAndSet("bad", 0, "v", 0),
          store.compareAndSet("bad", 0, "v", Infinity),
          store.compareAndSet("bad", 0, "v", "forever" as never),
          store.compareAndSet("bad", 0, "x".repeat(RedisCircuitBreakerStore.maxValueLength + 1), "1 minute"),
          store.read(42 as never)
        ]
        for (const effect of cases) {
          const error = yield* Effect.flip(effect)
          expect(error).toBeInstanceOf(CircuitBreakerStore.CircuitBreakerStoreError)
          expect(error.message).toMatch(/expectedVersion|ttl|value|key/)
        }
        expect(Option.isNone((yield* store.read("bad")).entry)).toBe(true)
      }))

    it.effect("invalid options are an InvalidOptionsError naming the option", () =>
      Effect.gen(function*() {
        const cases: Array<[RedisCircuitBreakerStore.Options, string]> = [
          [{ prefix: "a{b" }, "prefix"],
          [{ url: "http://x" }, "url"],
          [{ commandTimeout: -1 }, "commandTimeout"],
          [{ cluster: { nodes: [] } }, "cluster.nodes"],
          [{ url, cluster: { nodes: [url] } }, "cluster"]
        ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(Effect.scoped(RedisCircuitBreakerStore.make(options)))
          expect(error._tag).toBe("InvalidOptionsError")
          expect(error.option).toBe(option)
        }
      }))

    it.scopedLive("layerConfig reads BREAKER_REDIS_* and provides the CircuitBreakerStore tag", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const provider = ConfigProvider.fromMap(
          new Map([
            ["BREAKER_REDIS_URL", url],
            ["BREAKER_REDIS_PREFIX", prefix],
            ["BREAKER_REDIS_COMMAND_TIMEOUT", "5 seconds"]
          ]),
          { pathDelim: "_" }
        )
        const context = yield* Layer.build(
          RedisCircuitBreakerStore.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
        )
        const service = Context.get(context, CircuitBreakerStore.CircuitBreakerStore)
        yield* service.compareAndSet("configured", 0, "v", "1 minute")
        expect(yield* promise(() => raw.exists(RedisCircuitBreakerStore.redisKey(prefix, "configured")))).toBe(1)
      }))
  })
})
