import * as RateLimiter from "@effect-resilience/core/RateLimiter"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, inject } from "vitest"
import * as Script from "../src/internal/script.js"

const url = inject("redisUrl")

// One raw connection to look at what the store wrote (TIME, GET, PTTL, KEYS…).
let raw: Redis
beforeAll(() => {
  raw = new Redis(url, { lazyConnect: false })
})
afterAll(async () => {
  await raw.quit()
})

let counter = 0
/** A prefix no other test uses, so tests never share buckets. */
const freshPrefix = () => `test:${process.pid}:${Date.now()}:${counter++}:`

/** Server time in fractional milliseconds (the clock the script decides on). */
const serverNow = Effect.promise(() => raw.time()).pipe(
  Effect.map(([seconds, micros]) => Number(seconds) * 1000 + Number(micros) / 1000)
)

const bucket = (key: string, tokensPerSecond: number, burstSize: number): RateLimiterStore.Bucket => ({
  key,
  tokensPerSecond,
  burstSize
})

const request = (
  buckets: ReadonlyArray<RateLimiterStore.Bucket>,
  cost = 1,
  maxWaitMillis = 0
): RateLimiterStore.Request => ({ buckets, cost, maxWaitMillis })

const makeStore = (options: RedisRateLimiterStore.Options = {}) =>
  // A decision budget of seconds and no fallback: on a busy machine a slow
  // answer must stay Redis's answer (a fallback would decide, and over-admit,
  // on local buckets) and never turn into a false failure.
  RedisRateLimiterStore.make({ url, prefix: freshPrefix(), timeout: "10 seconds", onError: "fail", ...options })

const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

describe("RedisRateLimiterStore", () => {
  describe("accuracy against a real redis-server", () => {
    it.scopedLive("admits the burst, then rejects with the exact retryAfter; cost counts", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        // 10 s per token: only a stall of seconds could refill one during the test
        const b = [bucket("burst", 0.1, 5)]
        const t0 = yield* serverNow
        const remaining: Array<number> = []
        for (let i = 0; i < 5; i++) {
          const d = yield* store.consume(request(b))
          expect(d.allowed).toBe(true)
          expect(d.waitMillis).toBe(0)
          expect(d.limit).toBe(5)
          remaining.push(d.remaining)
        }
        expect(remaining).toEqual([4, 3, 2, 1, 0])
        const rejected = yield* store.consume(request(b))
        const elapsed = (yield* serverNow) - t0
        expect(rejected.allowed).toBe(false)
        expect(rejected.rejectedBy).toBe("burst")
        expect(rejected.remaining).toBe(0)
        // 0.1 token/s: the first token is due 10 s after the first call, which
        // happened within `elapsed` (server time) of the rejection.
        expect(rejected.retryAfterMillis).toBeGreaterThanOrEqual(Math.floor(10_000 - elapsed))
        expect(rejected.retryAfterMillis).toBeLessThanOrEqual(10_000)
        expect(rejected.resetAfterMillis).toBeGreaterThanOrEqual(Math.floor(50_000 - elapsed))
        expect(rejected.resetAfterMillis).toBeLessThanOrEqual(50_000)

        // A cost of 3 out of a burst of 5 fits once.
        const c = [bucket("cost", 0.1, 5)]
        const t2 = yield* serverNow
        const first = yield* store.consume(request(c, 3))
        expect(first).toMatchObject({ allowed: true, remaining: 2, limit: 5 })
        const second = yield* store.consume(request(c, 3))
        expect(second.allowed).toBe(false)
        expect(second.remaining).toBe(2)
        expect(second.retryAfterMillis).toBeGreaterThanOrEqual(Math.floor(10_000 - ((yield* serverNow) - t2)))
        expect(second.retryAfterMillis).toBeLessThanOrEqual(10_000)
      }))

    it.scopedLive("retryAfter is exact on the server clock: waiting it out is enough", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const b = [bucket("exact", 10, 1)] // one token every 100 ms
        const t0 = yield* serverNow
        expect((yield* store.consume(request(b))).allowed).toBe(true)
        const rejected = yield* store.consume(request(b))
        const t1 = yield* serverNow
        expect(rejected.allowed).toBe(false)
        // The token is due 100 ms after the first call, which happened in [t0, t1].
        expect(rejected.retryAfterMillis).toBeLessThanOrEqual(100)
        expect(rejected.retryAfterMillis).toBeGreaterThanOrEqual(Math.floor(100 - (t1 - t0)))
        yield* sleep(rejected.retryAfterMillis)
        expect((yield* store.consume(request(b))).allowed).toBe(true)
      }))

    it.scopedLive("refills continuously at the configured rate", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const b = [bucket("refill", 10, 2)] // one token every 100 ms
        const t0 = yield* serverNow
        expect((yield* store.consume(request(b, 2))).allowed).toBe(true)
        const peek = yield* store.peek(request(b, 1))
        const elapsed = (yield* serverNow) - t0
        // Grounded in the server's clock: the first token is due 100 ms after the charge.
        if (elapsed < 99) {
          expect(peek.allowed).toBe(false)
          expect(peek.retryAfterMillis).toBeGreaterThanOrEqual(Math.floor(100 - elapsed))
          expect(peek.retryAfterMillis).toBeLessThanOrEqual(100)
        } else {
          expect(peek.allowed).toBe(true)
        }
        yield* sleep(peek.retryAfterMillis + 100)
        // >= 200 ms after the charge at 10/s: both tokens are back (and no more: burst 2).
        expect(yield* store.consume(request(b, 2))).toMatchObject({ allowed: true, remaining: 0 })
      }))

    it.scopedLive("over an interval of length t, admitted cost <= burst + rate × t", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        for (const [rate, burst, cost, millis] of [[200, 10, 1, 150], [100, 6, 2, 200], [40, 3, 1, 120]] as const) {
          const b = [bucket(`interval-${rate}`, rate, burst)]
          const start = yield* serverNow
          const deadline = Date.now() + millis
          let admitted = 0
          // Four callers hammering the same bucket until the deadline, each
          // making at least enough calls to take the whole burst, then one more
          // call each after the deadline (by then at least `rate × millis`
          // tokens have refilled, however slow the machine).
          yield* Effect.all(
            Array.from({ length: 4 }, () =>
              Effect.gen(function*() {
                let calls = 0
                while (Date.now() < deadline || calls < burst / cost) {
                  if ((yield* store.consume(request(b, cost))).allowed) admitted += cost
                  calls++
                }
                if ((yield* store.consume(request(b, cost))).allowed) admitted += cost
              })),
            { concurrency: "unbounded" }
          )
          const t = ((yield* serverNow) - start) / 1000
          expect(admitted).toBeLessThanOrEqual(burst + rate * t + 1e-9)
          // And it is a limiter, not a wall: the whole burst, then at least one
          // refilled token (a rejection leaves less than `cost` in the bucket;
          // the calls after the deadline find `rate × millis` more).
          expect(admitted).toBeGreaterThanOrEqual(burst + cost)
        }
      }))

    it.scopedLive("two stores on separate connections sharing one limit never over-admit together", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const a = yield* makeStore({ prefix })
        const b = yield* makeStore({ prefix })
        const buckets = [bucket("client", 0.001, 150), bucket("global", 0.001, 100)]
        const start = yield* serverNow
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? a : b).consume(request(buckets))),
          { concurrency: "unbounded" }
        )
        const t = ((yield* serverNow) - start) / 1000
        const admitted = results.filter((d) => d.allowed).length
        // 0.001 tokens/s: the run is far too short to refill a whole token.
        expect(admitted).toBeLessThanOrEqual(Math.floor(100 + 0.001 * t))
        expect(admitted).toBe(100)
        expect(results.filter((d) => !d.allowed).every((d) => d.rejectedBy === "global")).toBe(true)
      }))

    it.scopedLive("all-or-nothing: a rejection by one bucket charges no bucket", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const global = bucket("global", 0.001, 3)
        const c1 = [bucket("c1", 0.001, 2), global]
        const c2 = [bucket("c2", 0.001, 5), global]
        expect((yield* store.consume(request(c1))).allowed).toBe(true)
        expect((yield* store.consume(request(c1))).allowed).toBe(true)
        const byClient = yield* store.consume(request(c1))
        expect(byClient).toMatchObject({ allowed: false, rejectedBy: "c1", limit: 2 })
        // c1's rejection took nothing from the global bucket: one token is left for c2.
        const d = yield* store.consume(request(c2))
        expect(d).toMatchObject({ allowed: true, remaining: 0, limit: 3 })
        const c2Key = `${prefix}{global}c2`
        const before = yield* Effect.promise(() => raw.getBuffer(c2Key))
        expect(before).not.toBeNull()
        const byGlobal = yield* store.consume(request(c2))
        expect(byGlobal).toMatchObject({ allowed: false, rejectedBy: "global" })
        // …and c2's own bucket was not charged by the rejected call.
        expect(yield* Effect.promise(() => raw.getBuffer(c2Key))).toEqual(before)
      }))

    it.scopedLive("peek decides without charging", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const b = [bucket("peek", 0.001, 2)]
        expect(yield* store.peek(request(b, 0))).toMatchObject({ allowed: true, remaining: 2, resetAfterMillis: 0 })
        expect(yield* store.peek(request(b, 2))).toMatchObject({ allowed: true, remaining: 0 })
        expect((yield* store.consume(request(b, 2))).allowed).toBe(true)
        expect(yield* store.peek(request(b, 1))).toMatchObject({ allowed: false, remaining: 0, rejectedBy: "peek" })
      }))

    it.scopedLive("wait mode: reservations in order, bounded by maxWait, refunded when unused", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        // 10 s per token: the test never sleeps it, and seconds of load cannot blur it
        const b = [bucket("wait", 0.1, 1)]
        const waits: Array<number> = []
        const decisions: Array<RateLimiterStore.Decision> = []
        const t0 = yield* serverNow
        for (let i = 0; i < 4; i++) {
          const d = yield* store.consume(request(b, 1, 35_000))
          expect(d.allowed).toBe(true)
          waits.push(d.waitMillis)
          decisions.push(d)
        }
        const elapsed = (yield* serverNow) - t0
        expect(waits[0]).toBe(0)
        for (let i = 1; i < 4; i++) {
          // Each reservation queues 10 s behind the previous one.
          expect(waits[i]).toBeGreaterThan(waits[i - 1])
          expect(waits[i]).toBeLessThanOrEqual(i * 10_000)
          expect(waits[i]).toBeGreaterThanOrEqual(Math.floor(i * 10_000 - elapsed))
          // one bucket reserved: its tat before and after the charge, one token (10 s at 0.1/s) apart
          const [before, after] = decisions[i].reservation ?? []
          expect(after - before).toBeCloseTo(10_000, 3)
          expect(decisions[i].remaining).toBe(0)
        }
        const tooLong = yield* store.consume(request(b, 1, 35_000))
        expect(tooLong.allowed).toBe(false)
        expect(tooLong.retryAfterMillis).toBeGreaterThan(35_000)
        expect(tooLong.retryAfterMillis).toBeLessThanOrEqual(40_000)

        // Refunding a reservation with a later one behind it changes nothing…
        yield* store.refund(request(b, 1, 35_000), decisions[2])
        // …refunding the last one gives its slot to the next caller.
        yield* store.refund(request(b, 1, 35_000), decisions[3])
        const next = yield* store.consume(request(b, 1, 35_000))
        expect(next.allowed).toBe(true)
        expect(next.waitMillis).toBeLessThanOrEqual(waits[3])
        expect(next.waitMillis).toBeGreaterThan(waits[2])
      }))
  })

  describe("keys", () => {
    it.scopedLive("hash-tagged under the prefix, with a TTL of the time to refill plus twice the margin", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const before = yield* serverNow
        yield* store.consume(request([bucket("solo", 10, 5)], 2))
        yield* store.consume(request([bucket("client-1", 10, 5), bucket("api", 2, 20)], 3))
        const keys = (yield* Effect.promise(() => raw.keys(`${prefix}*`))).sort()
        expect(keys).toEqual([`${prefix}{api}`, `${prefix}{api}client-1`, `${prefix}{solo}`].sort())
        // solo: 2 tokens at 10/s = 200 ms to full; api: 3 tokens at 2/s = 1.5 s; + twice the 1 s margin
        // (a new key's TTL; later writes keep it while it still outlives the new tat by half the margin).
        for (
          const [key, refill] of [[`${prefix}{solo}`, 200], [`${prefix}{api}`, 1500], [
            `${prefix}{api}client-1`,
            300
          ]] as const
        ) {
          const pttl = yield* Effect.promise(() => raw.pttl(key))
          // the TTL counts down from its write, which happened since `before` (server time)
          const since = (yield* serverNow) - before
          expect(pttl).toBeGreaterThan(0)
          expect(pttl).toBeLessThanOrEqual(refill + 2000)
          expect(pttl).toBeGreaterThanOrEqual(Math.floor(refill + 2000 - since) - 1)
        }
      }))

    it.scopedLive("ioredis' own keyPrefix (redisOptions) is honoured, alone and in batches", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix, redisOptions: { keyPrefix: "kp:" } })
        yield* store.consume(request([bucket("alone", 1, 5)]))
        yield* Effect.forEach(["x", "y", "z"], (key) => store.consume(request([bucket(key, 1, 5)])), {
          concurrency: "unbounded"
        })
        const keys = (yield* Effect.promise(() => raw.keys(`kp:${prefix}*`))).sort()
        expect(keys).toEqual(["alone", "x", "y", "z"].map((key) => `kp:${prefix}{${key}}`))
      }))

    it.scopedLive("a key's TTL is kept while it outlives the new tat, and extended before it would not", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const key = `${prefix}{steady}`
        // 1 token per second, burst 1,000: every call moves the tat 1 s further.
        const steady = [bucket("steady", 1, 1000)]
        // TTLs count down from their write: each bound subtracts the server time since the first call
        const t0 = yield* serverNow
        const since = Effect.map(serverNow, (now) => now - t0)
        yield* store.consume(request(steady))
        const first = yield* Effect.promise(() => raw.pttl(key))
        expect(first).toBeGreaterThanOrEqual(3000 - (yield* since) - 1) // tat 1 s away + 2 s
        // +1 s of tat: the key (expiring ~3 s from now) still outlives it by ≥ 0.5 s: TTL kept.
        yield* store.consume(request(steady))
        const kept = yield* Effect.promise(() => raw.pttl(key))
        expect(kept).toBeLessThanOrEqual(first)
        // +1 s more: tat 3 s away, past the expiry minus half the margin: TTL extended to tat + 2 s.
        yield* store.consume(request(steady))
        const extended = yield* Effect.promise(() => raw.pttl(key))
        expect(extended).toBeGreaterThanOrEqual(5000 - (yield* since) - 1)
        expect(extended).toBeLessThanOrEqual(5000)
        // Whatever the path, the key never expires before its bucket is full
        // (the decision's resetAfter, counted from the decision).
        for (let i = 0; i < 20; i++) {
          const decidedAt = yield* serverNow
          const decision = yield* store.consume(request(steady))
          const ttl = yield* Effect.promise(() => raw.pttl(key))
          expect(ttl).toBeGreaterThanOrEqual(decision.resetAfterMillis - ((yield* serverNow) - decidedAt) - 1)
        }
        // 23 tokens spent; a busy machine may have refilled a few (1 per second)
        const decision = yield* store.peek(request(steady, 0))
        expect(decision.remaining).toBeGreaterThanOrEqual(1000 - 23)
        expect(decision.remaining).toBeLessThanOrEqual(1000 - 23 + Math.ceil((yield* since) / 1000))
      }))

    it.scopedLive("hostile keys are safe and stay distinct", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const store = yield* makeStore({ prefix })
        const hostile = [
          "}{",
          "{tag}",
          "with space",
          "new\nline\r\n*1\r\n$4\r\nPING",
          "\u0000nul",
          "é✓🚀",
          "x".repeat(100_000),
          "x".repeat(100_001),
          ""
        ]
        for (const key of hostile) {
          const b = [bucket(key, 0.001, 1)]
          expect((yield* store.consume(request(b))).allowed).toBe(true)
          const again = yield* store.consume(request(b))
          expect(again.allowed).toBe(false)
          expect(again.rejectedBy).toBe(key)
        }
        const keys = yield* Effect.promise(() => raw.keys(`${prefix}*`))
        expect(keys.length).toBe(hostile.length)
        for (const key of keys) {
          expect(key.length).toBeLessThan(prefix.length + 600)
          // Exactly one hash tag per key, and never an empty one.
          expect(key.slice(prefix.length)).toMatch(/^\{[^{}]+\}[^{}]*$/)
        }
      }))

    it.scopedLive("NOSCRIPT: a flushed script cache is reloaded and decisions continue", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const b = [bucket("noscript", 0.001, 2)]
        expect((yield* store.consume(request(b))).allowed).toBe(true)
        yield* Effect.promise(() => raw.script("FLUSH"))
        const d = yield* store.consume(request(b))
        expect(d).toMatchObject({ allowed: true, remaining: 0 })
        expect((yield* store.consume(request(b))).allowed).toBe(false)
        // Reloaded into the cache: the next calls are EVALSHA again.
        const [loaded] = (yield* Effect.promise(() => raw.script("EXISTS", Script.sha1))) as Array<number>
        expect(loaded).toBe(1)
      }))

    it.scopedLive("NOSCRIPT in a batch: concurrent decisions after a flush are all decided, exactly", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        const b = [bucket("noscript-batch", 0.001, 5)]
        expect((yield* store.consume(request(b))).allowed).toBe(true)
        yield* Effect.promise(() => raw.script("FLUSH"))
        // one tick: the first leaves alone, the others gather into one batch (EVALSHA → NOSCRIPT → EVAL)
        const decisions = yield* Effect.forEach(Array.from({ length: 10 }), () => store.consume(request(b)), {
          concurrency: "unbounded"
        })
        expect(decisions.filter((d) => d.allowed).length).toBe(4)
        expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort()).toEqual([0, 1, 2, 3])
        const [loaded] = (yield* Effect.promise(() => raw.script("EXISTS", Script.sha1Batch))) as Array<number>
        expect(loaded).toBe(1)
      }))

    it.live("closing the scope closes the connection", () =>
      Effect.gen(function*() {
        const clients = Effect.promise(() => raw.info("clients")).pipe(
          Effect.map((info) => Number(/connected_clients:(\d+)/.exec(info)?.[1]))
        )
        const before = yield* clients
        const scope = yield* Scope.make()
        const store = yield* Scope.extend(makeStore(), scope)
        yield* store.consume(request([bucket("scope", 1, 1)]))
        expect(yield* clients).toBe(before + 1)
        yield* Scope.close(scope, Exit.void)
        yield* sleep(50)
        expect(yield* clients).toBe(before)
      }))

    it.scopedLive("invalid options are typed errors naming the option", () =>
      Effect.gen(function*() {
        const prefix = yield* Effect.flip(RedisRateLimiterStore.make({ url, prefix: "a{b}" }))
        expect(prefix).toMatchObject({ _tag: "InvalidOptionsError", option: "prefix" })
        const timeout = yield* Effect.flip(RedisRateLimiterStore.make({ url, timeout: -1 }))
        expect(timeout).toMatchObject({ _tag: "InvalidOptionsError", option: "timeout" })
        const mode = yield* Effect.flip(RedisRateLimiterStore.make({ url, onError: "maybe" as never }))
        expect(mode).toMatchObject({ _tag: "InvalidOptionsError", option: "onError" })
        const badUrl = yield* Effect.flip(RedisRateLimiterStore.make({ url: "http://x:secret@host" }))
        expect(badUrl).toMatchObject({ _tag: "InvalidOptionsError", option: "url" })
        expect(badUrl.message).not.toContain("secret")
        for (const maxBatchSize of [0, 1.5, 1_001]) {
          const batch = yield* Effect.flip(RedisRateLimiterStore.make({ url, maxBatchSize }))
          expect(batch).toMatchObject({ _tag: "InvalidOptionsError", option: "maxBatchSize" })
        }
      }))
  })

  describe("layers and RateLimiter", () => {
    it.live("layerConfig reads URL, prefix, timeout and failure mode from Config", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const provider = ConfigProvider.fromMap(
          new Map([
            ["RATE_LIMITER_REDIS_URL", url],
            ["RATE_LIMITER_REDIS_PREFIX", prefix],
            // a budget of seconds: a busy machine must not turn this decision into fail-closed's rejection
            ["RATE_LIMITER_REDIS_TIMEOUT", "10 seconds"],
            ["RATE_LIMITER_REDIS_ON_ERROR", "fail-closed"]
          ]),
          { pathDelim: "_" } // as in the environment
        )
        const decision = yield* Effect.flatMap(
          RateLimiterStore.RateLimiterStore,
          (store) => store.consume(request([bucket("configured", 1, 1)]))
        ).pipe(Effect.provide(RedisRateLimiterStore.layerConfig()), Effect.withConfigProvider(provider))
        expect(decision.allowed).toBe(true)
        expect(yield* Effect.promise(() => raw.exists(`${prefix}{configured}`))).toBe(1)

        const bad = ConfigProvider.fromMap(new Map([["RATE_LIMITER_REDIS_ON_ERROR", "sometimes"]]), {
          pathDelim: "_"
        })
        const error = yield* Effect.flip(
          Layer.build(RedisRateLimiterStore.layerConfig()).pipe(Effect.scoped, Effect.withConfigProvider(bad))
        )
        expect(String(error)).toContain("ON_ERROR")
      }))

    it.scopedLive("two RateLimiter instances on separate Redis connections share one limit", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        // Two "processes": each its own store (own connection) and limiter.
        const instance = Effect.flatMap(
          makeStore({ prefix }),
          (store) =>
            RateLimiter.make({ name: "api", tokensPerSecond: 0.001, burstSize: 50 }).pipe(
              Effect.provideService(RateLimiterStore.RateLimiterStore, store)
            )
        )
        const [a, b] = [yield* instance, yield* instance]
        const results = yield* Effect.all(
          Array.from({ length: 400 }, (_, i) => Effect.either((i % 2 === 0 ? a : b).acquire("client-7"))),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Right").length).toBe(50)
        const rejected = results.filter((r) => r._tag === "Left").map((r) => r.left)
        expect(rejected.every((e) => e._tag === "RateLimitedError" && Duration.toMillis(e.retryAfter) > 0)).toBe(true)
      }))

    it.scopedLive("wait mode through RateLimiter: an interrupted waiter gives its Redis reservation back", () =>
      Effect.gen(function*() {
        const store = yield* makeStore()
        // 2 s per token: seconds of margin before a slot refills by itself
        const limiter = yield* RateLimiter.make({
          name: "quota",
          tokensPerSecond: 0.5,
          burstSize: 1,
          mode: "wait",
          maxWait: "5 seconds"
        })
          .pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, store))
        yield* limiter.acquire()
        const waiter = yield* Effect.fork(limiter.acquire())
        yield* sleep(200)
        yield* Fiber.interrupt(waiter)
        // The next caller takes the interrupted waiter's place (~2 s), not the slot behind it (~4 s).
        const next = yield* limiter.consume()
        expect(next.allowed).toBe(true)
        expect(Duration.toMillis(next.wait)).toBeGreaterThan(0)
        expect(Duration.toMillis(next.wait)).toBeLessThanOrEqual(2000)
      }))
  })
})
