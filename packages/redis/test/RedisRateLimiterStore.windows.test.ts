import * as RateLimiter from "@effect-resilience/core/RateLimiter"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, inject } from "vitest"
import { TTL_MARGIN_MILLIS } from "../src/internal/redisStore.js"

const url = inject("redisUrl")

// One raw connection to look at what the store wrote (TIME, GET, PTTL, KEYS).
let raw: Redis
beforeAll(() => {
  raw = new Redis(url, { lazyConnect: false })
})
afterAll(async () => {
  await raw.quit()
})

let counter = 0
const freshPrefix = () => `mw:${process.pid}:${Date.now()}:${counter++}:`

/** Server time in epoch milliseconds (the clock the script decides on). */
const serverNow = Effect.promise(() => raw.time()).pipe(
  Effect.map(([seconds, micros]) => Number(seconds) * 1000 + Number(micros) / 1000)
)

const HOUR = 3_600_000
const DAY = 86_400_000

const bucket = (key: string, tokensPerSecond: number, burstSize: number): RateLimiterStore.Bucket => ({
  key,
  tokensPerSecond,
  burstSize
})
const win = (key: string, limit: number, windowMillis: number): RateLimiterStore.Window => ({
  key,
  limit,
  windowMillis
})
const request = (
  buckets: ReadonlyArray<RateLimiterStore.Bucket>,
  windows: ReadonlyArray<RateLimiterStore.Window>,
  cost = 1,
  maxWaitMillis = 0
): RateLimiterStore.Request => ({ buckets, windows, cost, maxWaitMillis })

// A decision budget of seconds and no fallback: a slow answer stays Redis's answer.
const makeStore = (prefix: string) =>
  RedisRateLimiterStore.make({ url, prefix, timeout: "10 seconds", onError: "fail" })

const wide = bucket("b", 10_000, 10_000)

describe("RedisRateLimiterStore windows", () => {
  it.scopedLive("one script run decides buckets and windows all-or-nothing on the server's clock", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      const shared = win("shared", 5, DAY)
      const tight = request([wide], [shared, win("tight", 1, DAY)])
      const first = yield* store.consume(tight)
      expect(first).toMatchObject({ allowed: true, waitMillis: 0 })
      const t = yield* serverNow
      for (let i = 0; i < 3; i++) {
        const rejected = yield* store.consume(tight)
        expect(rejected).toMatchObject({ allowed: false, rejectedBy: "tight", binding: 2, limit: 1, remaining: 0 })
        // until the next UTC midnight, on the server's clock
        const toMidnight = DAY - (t % DAY)
        expect(rejected.retryAfterMillis).toBeGreaterThan(toMidnight - 5_000)
        expect(rejected.retryAfterMillis).toBeLessThanOrEqual(toMidnight + 1)
      }
      // the shared window and the bucket were charged once, by the one admitted call
      expect(yield* store.peek(request([wide], [shared], 0))).toMatchObject({ remaining: 4 })
      expect((yield* store.peek(request([wide], [], 0))).remaining).toBeGreaterThanOrEqual(9_999)
    }))

  it.scopedLive("every key of a decision shares one hash tag and expires: TTL <= the longest window + margin", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* makeStore(prefix)
      const longest = DAY
      yield* store.consume(
        request([bucket("client", 1, 5), bucket("global*", 10, 10)], [
          win("client@1000ms", 3, 1000),
          win("client@3600000ms", 10, HOUR),
          win("client@86400000ms", 25, longest)
        ])
      )
      const keys = yield* Effect.promise(() => raw.keys(`${prefix}*`))
      expect(keys.length).toBe(5)
      const tags = new Set(keys.map((k) => /\{([^}]*)\}/.exec(k)?.[1]))
      expect([...tags]).toEqual(["global*"])
      for (const key of keys) {
        const ttl = yield* Effect.promise(() => raw.pttl(key))
        expect(ttl).toBeGreaterThan(0)
        expect(ttl).toBeLessThanOrEqual(longest + 2 * TTL_MARGIN_MILLIS)
      }
      const windowKeys = keys.filter((k) => k.includes("%"))
      expect(windowKeys.length).toBe(3)
      // a window key is two doubles (index, count): constant memory whatever the limit
      for (const key of windowKeys) {
        expect((yield* Effect.promise(() => raw.getBuffer(key)))!.length).toBe(16)
      }
    }))

  it.scopedLive("wait mode reserves a place in the next window; a refund gives it back", () =>
    Effect.gen(function*() {
      const store = yield* makeStore(freshPrefix())
      // a 1-hour window of 1: the next places are at the next hours (a maxWait of 3 hours to reach them)
      const req = request([wide], [win("h", 1, HOUR)], 1, 3 * HOUR)
      expect(yield* store.consume(req)).toMatchObject({ allowed: true, waitMillis: 0 })
      const t = yield* serverNow
      const second = yield* store.consume(req)
      expect(second.allowed).toBe(true)
      const toNextHour = HOUR - (t % HOUR)
      expect(second.waitMillis).toBeGreaterThan(toNextHour - 5_000)
      expect(second.waitMillis).toBeLessThanOrEqual(toNextHour + 1)
      const third = yield* store.consume(req)
      expect(third.allowed).toBe(true)
      expect(third.waitMillis).toBeGreaterThan(HOUR)
      // the third and second give theirs back: the next hour has room again
      yield* store.refund(req, third)
      yield* store.refund(req, second)
      const again = yield* store.consume(req)
      expect(Math.abs(again.waitMillis - second.waitMillis)).toBeLessThan(5_000)
    }))

  it.scopedLive("RateLimiter over Redis reports the window that decided", () =>
    Effect.gen(function*() {
      const store = yield* makeStore(freshPrefix())
      const limiter = yield* RateLimiter.make({
        name: "av",
        tokensPerSecond: 1000,
        windows: [{ limit: 2, per: "1 hour" }, { limit: 3, per: "1 day" }]
      }).pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, store))
      yield* limiter.consume("k")
      const second = yield* limiter.consume("k")
      expect(second).toMatchObject({ allowed: true, remaining: 0, limit: 2 })
      expect(second.window).toEqual(Duration.hours(1))
      const third = yield* limiter.consume("k")
      expect(third).toMatchObject({ allowed: false, limit: 2, binding: 1 })
      expect(third.window).toEqual(Duration.hours(1))
    }))

  // Random arrivals in concurrent bursts, on the real server clock: a call's
  // server time is only known to lie between the readings before and after
  // it, so the check counts the calls known to lie inside one window.
  it.scopedLive.prop(
    "over random concurrent arrivals, admitted calls never exceed any window's limit",
    {
      bursts: fc.array(
        fc.record({
          calls: fc.integer({ min: 1, max: 12 }),
          pause: fc.constantFrom(0, 0, 5, 40, 150),
          which: fc.nat({ max: 2 })
        }),
        { minLength: 1, maxLength: 12 }
      )
    },
    ({ bursts }) =>
      Effect.gen(function*() {
        const store = yield* makeStore(freshPrefix())
        const perSecond = win("c@1000ms", 3, 1000)
        const perHour = win("c@3600000ms", 9, HOUR)
        const perDay = win("c@86400000ms", 14, DAY)
        const shapes = [[perSecond, perHour, perDay], [perDay], [perSecond, perHour]]
        const admitted: Array<{ from: number; to: number; windows: ReadonlyArray<RateLimiterStore.Window> }> = []
        for (const { calls, pause, which } of bursts) {
          const windows = shapes[which]
          const from = yield* serverNow
          const decisions = yield* Effect.all(
            Array.from({ length: calls }, () => store.consume(request([wide], windows))),
            { concurrency: "unbounded" }
          )
          const to = yield* serverNow
          for (const d of decisions) if (d.allowed) admitted.push({ from, to, windows })
          if (pause > 0) yield* Effect.sleep(pause)
        }
        for (const w of [perSecond, perHour, perDay]) {
          const inside = new Map<number, number>()
          for (const a of admitted) {
            if (!a.windows.includes(w)) continue
            const k = Math.floor(a.from / w.windowMillis)
            if (Math.floor(a.to / w.windowMillis) !== k) continue
            const total = (inside.get(k) ?? 0) + 1
            inside.set(k, total)
            expect(total).toBeLessThanOrEqual(w.limit)
          }
        }
      }),
    { fastCheck: { numRuns: 15 } }
  )
})
