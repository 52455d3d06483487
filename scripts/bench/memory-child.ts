/**
 * One memory measurement, in a process of its own (`node --expose-gc`):
 * `memory-child.ts <subject> <count>` prints `{ "bytes": …, "count": … }`, the
 * retained heap growth (after full GCs) of `count` limiter keys or breakers.
 */
import * as Experimental from "@effect/experimental/RateLimiter"
import { circuitBreaker, ConsecutiveBreaker, handleAll } from "cockatiel"
import { Effect } from "effect"
import OpossumBreaker from "opossum"
import { RateLimiterMemory } from "rate-limiter-flexible"
import * as CircuitBreaker from "../../packages/core/src/CircuitBreaker.js"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"

const LIMIT = 1_000_000_000 // the peers keep a key whatever its rate: no eviction to avoid
const subject = process.argv[2] ?? ""
const count = Number(process.argv[3] ?? 1000)

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("run with node --expose-gc")
  process.exit(2)
}

const heap = (): number => {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

const key = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${i >> 24}`

const loop = (n: number, body: (i: number) => Effect.Effect<unknown, unknown>) => {
  let i = 0
  return Effect.runPromise(Effect.whileLoop({ while: () => i < n, body: () => body(i), step: () => void i++ }))
}

const main = async (): Promise<unknown> => {
  switch (subject) {
    case "ours-limiter": {
      const store = await Effect.runPromise(RateLimiterStore.makeMemory({ maxKeys: count }))
      const limiter = await Effect.runPromise(
        // a slow refill (one token per 1,000 s): every key stays live (not yet full again) for the whole run
        RateLimiter.make({ name: "bench", tokensPerSecond: 0.001, burstSize: 10 }).pipe(
          Effect.provideService(RateLimiterStore.RateLimiterStore, store)
        )
      )
      await loop(10, (i) => limiter.consume(key(i))) // warm: code and metrics allocated
      const before = heap()
      await loop(count, (i) => limiter.consume(key(i)))
      const after = heap()
      const stats = await Effect.runPromise(store.stats)
      return {
        bytes: after - before,
        count,
        keys: stats.keys._tag === "Some" ? stats.keys.value : -1,
        retain: [limiter]
      }
    }
    case "rlf-limiter": {
      const rlf = new RateLimiterMemory({ points: LIMIT, duration: 600 })
      await rlf.consume("warm")
      const before = heap()
      for (let i = 0; i < count; i++) await rlf.consume(key(i))
      const after = heap()
      return { bytes: after - before, count, retain: [rlf] }
    }
    case "experimental-limiter": {
      const limiter = await Effect.runPromise(Effect.provide(Experimental.make, Experimental.layerStoreMemory))
      const consume = (k: string) =>
        limiter.consume({ key: k, limit: LIMIT, window: "1 second", algorithm: "token-bucket" })
      await loop(10, (i) => consume(key(i)))
      const before = heap()
      await loop(count, (i) => consume(key(i)))
      const after = heap()
      return { bytes: after - before, count, retain: [limiter] }
    }
    case "ours-breaker": {
      const warm = await Effect.runPromise(CircuitBreaker.make({ service: "warm", resource: "op" }))
      await Effect.runPromise(warm.execute(Effect.void))
      const held: Array<CircuitBreaker.CircuitBreaker> = []
      const before = heap()
      for (let i = 0; i < count; i++) {
        held.push(await Effect.runPromise(CircuitBreaker.make({ service: "svc", resource: `op${i}` })))
      }
      const after = heap()
      return { bytes: after - before, count, retain: held.length }
    }
    case "ours-breaker-used": {
      // the same, after one successful call through each (lazily built state, if any)
      const held: Array<CircuitBreaker.CircuitBreaker> = []
      const before = heap()
      for (let i = 0; i < count; i++) {
        const breaker = await Effect.runPromise(CircuitBreaker.make({ service: "svc", resource: `op${i}` }))
        await Effect.runPromise(breaker.execute(Effect.void))
        held.push(breaker)
      }
      const after = heap()
      return { bytes: after - before, count, retain: held.length }
    }
    case "cockatiel-breaker": {
      const held: Array<unknown> = []
      const before = heap()
      for (let i = 0; i < count; i++) {
        held.push(circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }))
      }
      const after = heap()
      return { bytes: after - before, count, retain: held.length }
    }
    case "opossum-breaker": {
      const held: Array<OpossumBreaker> = []
      const fn = async () => 1
      const before = heap()
      for (let i = 0; i < count; i++) held.push(new OpossumBreaker(fn, { timeout: 10_000 }))
      const after = heap()
      for (const b of held) b.shutdown()
      return { bytes: after - before, count, retain: held.length }
    }
    default:
      throw new Error(`unknown subject ${subject}`)
  }
}

main().then(
  (result) => {
    const { retain: _retain, ...rest } = result as Record<string, unknown>
    console.log(JSON.stringify(rest))
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
