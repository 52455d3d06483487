import type * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, inject } from "vitest"
import * as Connection from "../src/internal/connection.js"
import * as Script from "../src/internal/script.js"

const url = inject("redisUrl")

let raw: Redis
beforeAll(() => {
  raw = new Redis(url, { lazyConnect: false })
})
afterAll(async () => {
  await raw.quit()
})

let counter = 0
const freshPrefix = () => `hot:${process.pid}:${Date.now()}:${counter++}:`

type Step = { readonly op: "c" | "p"; readonly cost: number; readonly maxWaitMillis: number }

/** The batch script's EVALSHA arguments for these requests (each in the store's layout). */
const batchOf = (requests: ReadonlyArray<ReadonlyArray<string | number>>) =>
  Connection.batchArgs(requests.map((args) => ({ args }))) as [number, ...Array<string | number>]

/**
 * What twin tats may differ by beyond the server time measured around them:
 * the half millisecond these tests always allowed (TIME's microseconds, the
 * two scripts' own arithmetic on doubles near 1.8e12 ms).
 */
const TAT_SLACK = 0.5

/** The server's clock (ms, fractional) from a TIME reply. */
const timeOf = (reply: unknown) => {
  const [seconds, micros] = reply as [string, string]
  return Number(seconds) * 1000 + Number(micros) / 1000
}

/**
 * The same step on twin keys, through the one-bucket script and through the
 * batch script (a batch of one), back to back in one MULTI so both see
 * (almost) the same server clock, between two TIMEs: the server time that
 * passed around the twin calls (a loaded machine can preempt redis-server
 * between them) bounds how far their durations may differ. The store's
 * argument layout for one bucket.
 */
const decideBoth = async (prefix: string, rate: number, burst: number, step: Step) => {
  await raw.script("LOAD", Script.source)
  await raw.script("LOAD", Script.sourceBatch)
  const args = (key: string) => [1, key, step.op, 1_000, step.cost, step.maxWaitMillis, rate, burst]
  const replies = await raw.multi().time().evalsha(Script.sha1, ...(args(`${prefix}one`) as [number])).evalsha(
    Script.sha1Batch,
    ...batchOf([args(`${prefix}many`)])
  ).time().exec()
  const [before, one, many, after] = replies!.map(([error, reply]) => {
    if (error !== null) throw error
    return reply
  })
  return [
    long(one as Array<number | string>),
    long((Connection.splitReplies(many, 1) as Array<Array<number | string>>)[0]),
    timeOf(after) - timeOf(before)
  ] as const
}

type BatchStep = {
  readonly op: "c" | "p"
  readonly client: number
  readonly withGlobal: boolean
  readonly cost: number
  readonly maxWaitMillis: number
}

const RATE = 0.001 // a token per 1,000 s: nothing refills during a test
const CLIENT_BURST = 4
const GLOBAL_BURST = 6

/** A step's arguments as the store gives them to its own script: n, keys, op, margin, cost, maxWait, pairs. */
const stepArgs = (prefix: string, step: BatchStep): Array<string | number> => {
  const global = `${prefix}{g}`
  return step.withGlobal
    ? [
      2,
      `${global}c${step.client}`,
      global,
      step.op,
      1_000,
      step.cost,
      step.maxWaitMillis,
      RATE,
      CLIENT_BURST,
      RATE,
      GLOBAL_BURST
    ]
    : [1, `${prefix}{c${step.client}}`, step.op, 1_000, step.cost, step.maxWaitMillis, RATE, CLIENT_BURST]
}

/** A refund's arguments: n, keys, "r", margin, then the reservation's pairs. */
const refundArgs = (args: ReadonlyArray<string | number>, reply: ReadonlyArray<string | number>) => {
  const n = args[0] as number
  return [...args.slice(0, n + 1), "r", 1_000, ...reply.slice(6)]
}

/** A reply in its long form: the short { remaining, resetAfter } is "allowed at once by bucket 1". */
const long = (reply: ReadonlyArray<string | number>): ReadonlyArray<string | number> =>
  reply.length === 2 ? [1, 0, 1, reply[0], reply[1], 0] : reply

/** The tat stored under each key (16 bytes: tat, expiresAt), or null. */
const storedTats = async (keys: ReadonlyArray<string>) =>
  (await raw.mgetBuffer(...keys)).map((value) => value === null ? null : value.readDoubleLE(0))

describe("RedisRateLimiterStore hot path", () => {
  it.live("one batch script run decides a tick's requests exactly as they are decided one at a time", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.array(
            FastCheck.record({
              op: FastCheck.constantFrom<"c" | "p">("c", "c", "p"),
              client: FastCheck.integer({ min: 0, max: 2 }),
              withGlobal: FastCheck.boolean(),
              cost: FastCheck.integer({ min: 1, max: 3 }),
              maxWaitMillis: FastCheck.constantFrom(0, 0, 10_000_000)
            }),
            { minLength: 2, maxLength: 30 }
          ),
          FastCheck.boolean(),
          async (steps, refundAll) => {
            await raw.script("LOAD", Script.source)
            await raw.script("LOAD", Script.sourceBatch)
            const batched = freshPrefix()
            const alone = freshPrefix()
            const batchedArgs = steps.map((step) => stepArgs(batched, step))
            const aloneArgs = steps.map((step) => stepArgs(alone, step))
            const run = async (args: ReadonlyArray<ReadonlyArray<string | number>>, one: boolean) => {
              if (one) {
                const replies: Array<Array<string | number>> = []
                for (const a of args) {
                  // what the store sends for a request alone: the one-bucket script, else a batch of one
                  const reply = a[0] === 1 && a[2] !== "r"
                    ? await raw.evalsha(Script.sha1, ...(a as [number]))
                    : (Connection.splitReplies(await raw.evalsha(Script.sha1Batch, ...batchOf([a])), 1) as Array<
                      unknown
                    >)[0]
                  replies.push(reply as Array<string | number>)
                }
                return replies
              }
              const reply = await raw.evalsha(Script.sha1Batch, ...batchOf(args))
              return Connection.splitReplies(reply, args.length) as Array<Array<string | number>>
            }
            // the server time the two runs span bounds how far their durations may differ
            const startedAt = timeOf(await raw.time())
            const mine = await run(batchedArgs, false)
            const theirs = await run(aloneArgs, true)
            const span = timeOf(await raw.time()) - startedAt
            expect(mine.length).toBe(steps.length)
            for (let i = 0; i < steps.length; i++) {
              const [a, b] = [long(mine[i]), long(theirs[i])]
              expect(a.length).toBe(b.length)
              // allowed, binding, remaining: exact; waitMillis, resetAfter, retryAfter: within the ms between the runs
              expect([a[0], a[2], a[3]]).toEqual([b[0], b[2], b[3]])
              for (const j of [1, 4, 5]) {
                expect(Math.abs(Number(a[j]) - Number(b[j]))).toBeLessThanOrEqual(1 + Math.ceil(span))
              }
            }
            // Refunds of every reservation (or the last one), batched vs one after the other.
            const reserved = steps.map((_, i) => i).filter((i) => mine[i].length > 6)
            const toRefund = refundAll ? reserved : reserved.slice(-1)
            if (toRefund.length > 0) {
              const refundMine = await run(toRefund.map((i) => refundArgs(batchedArgs[i], mine[i])), false)
              await run(toRefund.map((i) => refundArgs(aloneArgs[i], theirs[i])), true)
              expect(refundMine).toEqual(toRefund.map(() => [1]))
            }
            // Both key sets end in the same state.
            const names = ["{c0}", "{c1}", "{c2}", "{g}", "{g}c0", "{g}c1", "{g}c2"]
            const [x, y] = [
              await storedTats(names.map((k) => batched + k)),
              await storedTats(names.map((k) => alone + k))
            ]
            for (let i = 0; i < names.length; i++) {
              expect(x[i] === null).toBe(y[i] === null)
              if (x[i] !== null) expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(span + TAT_SLACK)
            }
          }
        ),
        { numRuns: 40 }
      )
    ))

  it.scopedLive("reads tats written as 8-byte doubles and as text (earlier formats)", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const store = yield* RedisRateLimiterStore.make({ url, prefix, timeout: "10 seconds", onError: "fail" })
      const [seconds, micros] = yield* Effect.promise(() => raw.time())
      const now = (Number(seconds) - 1_700_000_000) * 1000 + Number(micros) / 1000
      // burst 10 at 1 token/s: a tat 5.5 s ahead = 5 tokens spent (5.5 refilling), 4 left whole
      const ahead = now + 5_500
      const binary = Buffer.alloc(8)
      binary.writeDoubleLE(ahead)
      yield* Effect.promise(() => raw.set(`${prefix}{old-binary}`, binary, "PX", 60_000))
      yield* Effect.promise(() => raw.set(`${prefix}{old-text}`, ahead.toPrecision(17), "PX", 60_000))
      for (const key of ["old-binary", "old-text"]) {
        const decision = yield* store.peek({
          buckets: [{ key, tokensPerSecond: 1, burstSize: 10 }],
          cost: 0,
          maxWaitMillis: 0
        })
        expect(decision.remaining).toBe(4)
        const consumed = yield* store.consume({
          buckets: [{ key, tokensPerSecond: 1, burstSize: 10 }],
          cost: 1,
          maxWaitMillis: 0
        })
        expect(consumed).toMatchObject({ allowed: true, remaining: 3 })
        // rewritten in the current format, with a TTL past the new tat
        const value = yield* Effect.promise(() => raw.getBuffer(`${prefix}{${key}}`))
        expect(value?.length).toBe(16)
        expect(yield* Effect.promise(() => raw.pttl(`${prefix}{${key}}`))).toBeGreaterThan(6_500)
      }
    }))

  it.live("the one-bucket script decides exactly as the batch script does for one bucket", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // Slow refills (≤ 0.001 token/s): the microseconds between the two
          // twin calls cannot move a whole token, so decisions must match
          // exactly; durations (rounded up to ms) may differ by one.
          FastCheck.integer({ min: 1, max: 5 }),
          FastCheck.constantFrom(0.001, 0.0005, 0.0001),
          FastCheck.array(
            FastCheck.record({
              op: FastCheck.constantFrom<"c" | "p">("c", "c", "p"),
              cost: FastCheck.integer({ min: 1, max: 5 }),
              maxWaitMillis: FastCheck.constantFrom(0, 0, 1_500_000, 10_000_000)
            }),
            { minLength: 1, maxLength: 25 }
          ),
          async (burst, rate, steps) => {
            const prefix = freshPrefix()
            // A tat carries the clock of the step that set it: twin tats differ by at
            // most the widest gap between twin calls so far (max(tat, now) never widens it).
            let span = 0
            for (const step of steps) {
              if (step.cost > burst) continue
              const [one, many, gap] = await decideBoth(prefix, rate, burst, step)
              span = Math.max(span, gap)
              expect(one.length).toBe(many.length)
              // allowed, binding, remaining: exact; waitMillis, resetAfter, retryAfter
              // (rounded up to ms): within 1 ms plus the server time between the twin calls
              expect([one[0], one[2], one[3]]).toEqual([many[0], many[2], many[3]])
              for (const i of [1, 4, 5]) {
                expect(Math.abs(Number(one[i]) - Number(many[i]))).toBeLessThanOrEqual(1 + Math.ceil(span))
              }
              // The stored tats (and reservations) agree to within the time between the twin calls (µs, unless preempted).
              for (let i = 6; i < one.length; i++) {
                expect(Math.abs(Number(one[i]) - Number(many[i]))).toBeLessThanOrEqual(span + TAT_SLACK)
              }
              const [tatOne, tatMany] = await raw.mgetBuffer(`${prefix}one`, `${prefix}many`)
              expect(tatOne === null).toBe(tatMany === null)
              if (tatOne !== null && tatMany !== null) {
                // stored as 16 bytes: two little-endian doubles, tat and expiresAt
                expect(tatOne.length).toBe(16)
                expect(Math.abs(tatOne.readDoubleLE(0) - tatMany.readDoubleLE(0))).toBeLessThanOrEqual(
                  span + TAT_SLACK
                )
              }
            }
          }
        ),
        { numRuns: 40 }
      )
    ))

  it.scopedLive.each([undefined, 1, 7, 1_000])(
    "many decisions issued in one tick (maxBatchSize %s) are all decided, none over-admitted",
    (maxBatchSize) =>
      Effect.gen(function*() {
        const store = yield* RedisRateLimiterStore.make({
          url,
          prefix: freshPrefix(),
          timeout: "10 seconds",
          onError: "fail",
          maxBatchSize
        })
        const keys = ["a", "b", "c"]
        const burst = 50
        const decisions = yield* Effect.forEach(
          Array.from({ length: 300 }, (_, i) => keys[i % keys.length]),
          (key) =>
            Effect.map(
              store.consume({
                buckets: [{ key, tokensPerSecond: 0.001, burstSize: burst }],
                cost: 1,
                maxWaitMillis: 0
              }),
              (decision) => ({ key, decision })
            ),
          { concurrency: "unbounded" }
        )
        for (const key of keys) {
          const mine = decisions.filter((d) => d.key === key).map((d) => d.decision)
          const admitted = mine.filter((d) => d.allowed)
          expect(admitted.length).toBe(burst)
          // Each admitted decision saw its own count: remaining burst-1 … 0, each once.
          expect(admitted.map((d) => d.remaining).sort((x, y) => x - y)).toEqual(
            Array.from({ length: burst }, (_, i) => i)
          )
        }
      })
  )

  it.scopedLive("two-bucket decisions go through the batch script and stay all-or-nothing", () =>
    Effect.gen(function*() {
      const store = yield* RedisRateLimiterStore.make({
        url,
        prefix: freshPrefix(),
        timeout: "10 seconds",
        onError: "fail"
      })
      const global: RateLimiterStore.Bucket = { key: "global", tokensPerSecond: 0.001, burstSize: 3 }
      const request = (client: string): RateLimiterStore.Request => ({
        buckets: [{ key: client, tokensPerSecond: 0.001, burstSize: 2 }, global],
        cost: 1,
        maxWaitMillis: 0
      })
      const results = yield* Effect.forEach(["x", "x", "x", "y", "y"], (c) => store.consume(request(c)), {
        concurrency: "unbounded"
      })
      expect(results.map((d) => d.allowed)).toEqual([true, true, false, true, false])
      expect(results[2].rejectedBy).toBe("x")
      expect(results[4].rejectedBy).toBe("global")
    }))
})
