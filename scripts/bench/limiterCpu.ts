/**
 * In-memory limiter decisions, measured in CPU time (process.cpuUsage) rather
 * than wall time, so other processes on a shared machine disturb it less:
 * `node scripts/bench/dist/limiterCpu.mjs [rounds]` (after `tsx scripts/bench/build.ts`; or `tsx scripts/bench/limiterCpu.ts`). Same workload as section 2
 * (memoryLimiter.ts): one caller, every decision allowed, 1 key and 100,000
 * keys cycled; variants interleaved round by round; prints median and range
 * of ns per decision and the ratios to rate-limiter-flexible and to the faster
 * of @effect/experimental's two algorithms.
 */
import * as Experimental from "@effect/experimental/RateLimiter"
import { Effect } from "effect"
import { RateLimiterMemory } from "rate-limiter-flexible"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import { keysOf } from "./memoryLimiter.js"

const LIMIT = 1_000_000_000
const rounds = Number(process.argv[2] ?? 9)
// optional: only these key counts, comma-separated (e.g. "100000")
const counts = process.argv[3] === undefined ? [1, 100_000] : process.argv[3].split(",").map(Number)

type Run = (n: number) => Promise<void> | void

const cpu = async (run: Run, n: number): Promise<number> => {
  const start = process.cpuUsage()
  await run(n)
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / n
}

const main = async () => {
  const store = await Effect.runPromise(RateLimiterStore.makeMemory({ maxKeys: 1_000_000 }))
  const ours = await Effect.runPromise(
    RateLimiter.make({ name: "bench", tokensPerSecond: LIMIT, burstSize: LIMIT }).pipe(
      Effect.provideService(RateLimiterStore.RateLimiterStore, store)
    )
  )
  const rlf = new RateLimiterMemory({ points: LIMIT, duration: 1 })
  const experimental = await Effect.runPromise(Effect.provide(Experimental.make, Experimental.layerStoreMemory))
  const allKeys = keysOf(100_000)

  for (const count of counts) {
    const keys = allKeys.slice(0, count)
    const cycle = () => {
      let k = 0
      return () => {
        const key = keys[k]
        k = k + 1 === keys.length ? 0 : k + 1
        return key
      }
    }
    const effectLoop = (call: (key: string) => Effect.Effect<unknown, unknown>): Run => {
      const next = cycle()
      return (n) => {
        let i = 0
        return Effect.runPromise(
          Effect.whileLoop({ while: () => i < n, body: () => call(next()), step: () => void i++ })
        )
      }
    }
    const variants: Array<[string, Run]> = [
      ["ours: RateLimiter.consume", effectLoop((key) => ours.consume(key))],
      ["bare Effect.whileLoop step (Effect.void)", effectLoop(() => Effect.void)],
      // the internal synchronous decision, as a middleware already inside a fiber-runtime step would call it
      [
        "ours: internal unsafeConsume (sync)",
        (() => {
          const next = cycle()
          const unsafeConsume = RateLimiter.unsafeConsumeOf(ours)!
          return (n: number) =>
            Effect.runSync(Effect.withFiberRuntime((fiber) => {
              for (let i = 0; i < n; i++) unsafeConsume(fiber, next(), 1)
              return Effect.void
            }))
        })()
      ],
      [
        "ours: store.consume (no limiter layer)",
        (() => {
          let k = 0
          const buckets = keys.map((key) => ({ key: `bench|${key}`, tokensPerSecond: LIMIT, burstSize: LIMIT }))
          return (n: number) => {
            let i = 0
            return Effect.runPromise(Effect.whileLoop({
              while: () => i < n,
              body: () => {
                const bucket = buckets[k]
                k = k + 1 === buckets.length ? 0 : k + 1
                return store.consume({ buckets: [bucket], cost: 1, maxWaitMillis: 0 })
              },
              step: () => void i++
            }))
          }
        })()
      ],
      [
        "rlf: RateLimiterMemory",
        (() => {
          const next = cycle()
          return async (n: number) => {
            for (let i = 0; i < n; i++) await rlf.consume(next())
          }
        })()
      ],
      [
        "experimental: token-bucket",
        effectLoop((key) => experimental.consume({ key, limit: LIMIT, window: "1 second", algorithm: "token-bucket" }))
      ],
      [
        "experimental: fixed-window",
        effectLoop((key) => experimental.consume({ key, limit: LIMIT, window: "1 second" }))
      ]
    ]
    const n = count === 1 ? 200_000 : 100_000
    for (const [, run] of variants) await run(n) // warm-up (and every key created)
    const samples = variants.map(() => [] as Array<number>)
    for (let r = 0; r < rounds; r++) {
      for (let v = 0; v < variants.length; v++) samples[v].push(await cpu(variants[v][1], n))
    }
    const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
    const med = samples.map(median)
    const at = (label: string) => med[variants.findIndex(([l]) => l.startsWith(label))]
    const rlfMed = at("rlf:")
    const expBest = Math.min(at("experimental: token"), at("experimental: fixed"))
    console.log(`\n${count} key(s), ${rounds} rounds of ${n}, CPU ns per decision`)
    for (let v = 0; v < variants.length; v++) {
      const xs = samples[v]
      console.log(
        `${variants[v][0].padEnd(44)} median ${med[v].toFixed(0).padStart(5)}  range ${Math.min(...xs).toFixed(0)}–${
          Math.max(...xs).toFixed(0)
        }  vs rlf ${(rlfMed / med[v]).toFixed(2)}×  vs exp ${(expBest / med[v]).toFixed(2)}×`
      )
    }
  }
}

main()
