/**
 * Section 2: in-memory rate-limiter decisions per second, one caller, on one
 * key and cycling through 100,000 keys. Limits are set so every decision is
 * "allowed" (the common case, and no peer pays for building a rejection).
 *
 * Ours: `RateLimiter.consume(key)` over `RateLimiterStore.makeMemory` (the full
 * limiter: key hashing, metrics), and the bare store `consume` for reference.
 * rate-limiter-flexible: `RateLimiterMemory.consume(key)` awaited in a loop.
 * @effect/experimental: `RateLimiter.consume` over `layerStoreMemory`.
 *
 * Multi-window rows (issue 19): the same limiter with one window, and with
 * three (1 s + 1 min + 1 day), decided atomically with the bucket; beside
 * rate-limiter-flexible's `RateLimiterUnion` of three memory limiters (its
 * answer to several windows: each consumed in turn, not atomic).
 */
import * as Experimental from "@effect/experimental/RateLimiter"
import { Effect, Layer } from "effect"
import { RateLimiterMemory, RateLimiterUnion } from "rate-limiter-flexible"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import type { SectionResult, Settings, Target, Variant } from "./harness.js"
import { fmtInt, fmtRatio, log, measure, spread } from "./harness.js"

const TITLE = "2. Rate-limiter decisions per second, in memory"

const LIMIT = 1_000_000_000

export const keysOf = (n: number): Array<string> => {
  const keys = new Array<string>(n)
  for (let i = 0; i < n; i++) keys[i] = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  return keys
}

export const run = async (settings: Settings): Promise<SectionResult> => {
  const keyCounts = [1, 100_000]
  const allKeys = keysOf(100_000)

  const store = await Effect.runPromise(RateLimiterStore.makeMemory({ maxKeys: 1_000_000 }))
  const ours = await Effect.runPromise(
    RateLimiter.make({ name: "bench", tokensPerSecond: LIMIT, burstSize: LIMIT }).pipe(
      Effect.provideService(RateLimiterStore.RateLimiterStore, store)
    )
  )
  const rlf = new RateLimiterMemory({ points: LIMIT, duration: 1 })
  const withWindows = (windows: ReadonlyArray<RateLimiter.Window>) =>
    Effect.runPromise(
      RateLimiter.make({ name: `bench${windows.length}w`, tokensPerSecond: LIMIT, burstSize: LIMIT, windows }).pipe(
        Effect.provideService(RateLimiterStore.RateLimiterStore, store)
      )
    )
  const oneWindow = await withWindows([{ limit: LIMIT, per: "1 minute" }])
  const threeWindows = await withWindows([
    { limit: LIMIT, per: "1 second" },
    { limit: LIMIT, per: "1 minute" },
    { limit: LIMIT, per: "1 day" }
  ])
  const rlfUnion = new RateLimiterUnion(
    new RateLimiterMemory({ keyPrefix: "s", points: LIMIT, duration: 1 }),
    new RateLimiterMemory({ keyPrefix: "m", points: LIMIT, duration: 60 }),
    new RateLimiterMemory({ keyPrefix: "d", points: LIMIT, duration: 86_400 })
  )
  const experimental = await Effect.runPromise(
    Effect.provide(Experimental.make, Experimental.layerStoreMemory)
  )
  void Layer // (kept for readers: the experimental store is a Layer)

  const effectLoop = (
    label: string,
    keys: ReadonlyArray<string>,
    call: (key: string) => Effect.Effect<unknown, unknown>
  ) => {
    let k = 0
    return {
      label,
      run: (n: number) => {
        let i = 0
        return Effect.runPromise(Effect.whileLoop({
          while: () => i < n,
          body: () => {
            const key = keys[k]
            k = k + 1 === keys.length ? 0 : k + 1
            return call(key)
          },
          step: () => void i++
        }))
      }
    } satisfies Variant
  }

  const rows: Array<Array<string>> = []
  const targets: Array<Target> = []
  for (const count of keyCounts) {
    const keys = allKeys.slice(0, count)
    const storeBuckets = keys.map((key) => ({ key: `bench|${key}`, tokensPerSecond: LIMIT, burstSize: LIMIT }))
    let sk = 0
    log(`memory limiter: ${count} key(s)`)
    const variants: Array<Variant> = [
      effectLoop("ours: RateLimiter.consume", keys, (key) => ours.consume(key)),
      {
        label: "ours: store.consume (no limiter layer)",
        run: (n) => {
          let i = 0
          return Effect.runPromise(Effect.whileLoop({
            while: () => i < n,
            body: () => {
              const bucket = storeBuckets[sk]
              sk = sk + 1 === storeBuckets.length ? 0 : sk + 1
              return store.consume({ buckets: [bucket], cost: 1, maxWaitMillis: 0 })
            },
            step: () => void i++
          }))
        }
      },
      (() => {
        let k = 0
        return {
          label: "rate-limiter-flexible: RateLimiterMemory",
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await rlf.consume(keys[k])
              k = k + 1 === keys.length ? 0 : k + 1
            }
          }
        }
      })(),
      effectLoop(
        "@effect/experimental: token-bucket",
        keys,
        (key) => experimental.consume({ key, limit: LIMIT, window: "1 second", algorithm: "token-bucket" })
      ),
      effectLoop(
        "@effect/experimental: fixed-window (its default)",
        keys,
        (key) => experimental.consume({ key, limit: LIMIT, window: "1 second" })
      ),
      effectLoop("ours: RateLimiter.consume, bucket + 1 window (1 min)", keys, (key) => oneWindow.consume(key)),
      effectLoop(
        "ours: RateLimiter.consume, bucket + 3 windows (1 s, 1 min, 1 day)",
        keys,
        (key) => threeWindows.consume(key)
      ),
      (() => {
        let k = 0
        return {
          label: "rate-limiter-flexible: RateLimiterUnion of 3 (1 s, 1 min, 1 day; not atomic)",
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await rlfUnion.consume(keys[k])
              k = k + 1 === keys.length ? 0 : k + 1
            }
          }
        }
      })()
    ]
    const measured = await measure(settings, variants)
    const perSecond = (i: number) => 1e9 / measured[i].nsPerOp
    const oursRate = perSecond(0)
    const rlfRate = perSecond(2)
    const expRate = Math.max(perSecond(3), perSecond(4))
    for (let i = 0; i < measured.length; i++) {
      rows.push([
        `${count.toLocaleString("en-US")}`,
        measured[i].label,
        fmtInt(perSecond(i)),
        `${Math.round(measured[i].nsPerOp)} ns`,
        fmtRatio(perSecond(i) / rlfRate),
        `${spread(measured[i].samples).toFixed(0)}%`
      ])
    }
    targets.push({
      name: `Memory limiter vs rate-limiter-flexible, ${count.toLocaleString("en-US")} key(s)`,
      goal: "≥ 2×",
      actual: fmtRatio(oursRate / rlfRate),
      met: oursRate >= 2 * rlfRate
    })
    targets.push({
      name: `Memory limiter vs @effect/experimental (faster of its two), ${count.toLocaleString("en-US")} key(s)`,
      goal: "≥ 2×",
      actual: fmtRatio(oursRate / expRate),
      met: oursRate >= 2 * expRate
    })
  }
  return {
    title: TITLE,
    tables: [{
      columns: ["keys", "limiter", "decisions/s", "per decision", "vs rlf", "spread"],
      rows
    }],
    notes: [
      "One caller, sequential decisions; every decision allowed (limit 10⁹ per second). Keys are IPv4-like strings; 100,000 keys are cycled round-robin, so every decision touches a cold-ish entry.",
      "Ours stores up to `maxKeys: 1,000,000` here (default 100,000), so no key is evicted during the run.",
      "`@effect/experimental` keeps every key forever (no eviction); rate-limiter-flexible's memory limiter arms an unref'd `setTimeout` per key to expire it."
    ],
    targets
  }
}
