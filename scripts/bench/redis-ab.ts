/**
 * A/B runner for the Redis store alone (not part of `pnpm bench`): one own
 * redis-server, interleaved rounds, medians, plus CPU per decision on both
 * sides (client `process.cpuUsage`, server `/proc/<pid>/stat`) and the
 * server's `INFO commandstats` µs per EVALSHA.
 *
 *   node --import tsx scripts/bench/redis-ab.ts [--real] [--rounds N] [--baseline DIR]
 *
 * `--real`: limits of 1,000 tokens/s (burst 1e9) instead of 1e9/s, so the
 * script SETs the key with its `%.17g` tat on every call, as in real use (at
 * 1e9/s the increment, 1e-6 ms, is below the precision of `now` and the
 * script DELs instead). `--baseline DIR`: a copy of packages/redis/src to
 * compare against (an untracked directory inside packages/redis).
 */
import { Effect, Exit, Scope } from "effect"
import { Redis } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { RateLimiterRedis } from "rate-limiter-flexible"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import * as RedisRateLimiterStore from "../../packages/redis/src/RedisRateLimiterStore.js"
import { freePort, median, now, repoRoot } from "./harness.js"
import { keysOf } from "./memoryLimiter.js"

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const opt = (name: string) => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const real = flag("--real")
const rounds = Number(opt("--rounds") ?? 7)
const roundOps = Number(opt("--ops") ?? 6_000)
const baselineDir = opt("--baseline")
const only = opt("--only")
const concurrencies = (opt("--conc") ?? "1,64").split(",").map(Number)
const RATE = real ? 1_000 : 1_000_000_000
const BURST = 1_000_000_000

const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return Number(fields[11]) + Number(fields[12]) // utime + stime (after the comm field)
}

const startRedis = async (port: number): Promise<ChildProcess> => {
  const child = spawn("/usr/bin/redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no"
  ], {
    stdio: "ignore"
  })
  for (let i = 0; i < 100; i++) {
    const c = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    c.on("error", () => {})
    try {
      await c.connect()
      await c.ping()
      c.disconnect()
      return child
    } catch {
      c.disconnect()
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error("redis-server did not start")
}

interface Variant {
  readonly label: string
  readonly run: (concurrency: number, n: number) => Promise<void>
}

const effectWorkers = (call: (i: number) => Effect.Effect<unknown, unknown>) => (concurrency: number, n: number) => {
  let next = 0
  const worker = Effect.whileLoop({ while: () => next < n, body: () => call(next++), step: () => {} })
  return Effect.runPromise(
    Effect.forEach(Array.from({ length: concurrency }), () => worker, { concurrency: "unbounded", discard: true })
  )
}

const promiseWorkers = (call: (i: number) => Promise<unknown>) => async (concurrency: number, n: number) => {
  let next = 0
  const worker = async () => {
    while (next < n) await call(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

const main = async () => {
  const port = await freePort()
  const server = await startRedis(port)
  const admin = new Redis({ port })
  const scope = await Effect.runPromise(Scope.make())
  const url = `redis://127.0.0.1:${port}`
  let errors = 0
  try {
    const keys = keysOf(1_000)
    const storeOf = async (mod: typeof RedisRateLimiterStore) =>
      Effect.runPromise(
        mod.make({ url, onError: "fail", timeout: "5 seconds" }).pipe(Scope.extend(scope))
      )
    const limiterOver = (store: RateLimiterStore.Service) =>
      Effect.runPromise(
        RateLimiter.make({ name: "bench", tokensPerSecond: RATE, burstSize: BURST }).pipe(
          Effect.provideService(RateLimiterStore.RateLimiterStore, store)
        )
      )
    const bucketReq = (i: number): RateLimiterStore.Request => ({
      buckets: [{ key: keys[i % keys.length], tokensPerSecond: RATE, burstSize: BURST }],
      cost: 1,
      maxWaitMillis: 0
    })
    const variants: Array<Variant> = []
    const addOurs = async (tag: string, mod: typeof RedisRateLimiterStore) => {
      const store = await storeOf(mod)
      const limiter = await limiterOver(store)
      variants.push({
        label: `${tag}: RateLimiter.consume`,
        run: effectWorkers((i) =>
          Effect.catchAll(limiter.consume(keys[i % keys.length]), () => Effect.sync(() => void errors++))
        )
      })
      variants.push({
        label: `${tag}: store.consume`,
        run: effectWorkers((i) => Effect.catchAll(store.consume(bucketReq(i)), () => Effect.sync(() => void errors++)))
      })
    }
    if (baselineDir !== undefined) {
      const mod = await import(path.resolve(repoRoot, baselineDir, "RedisRateLimiterStore.ts"))
      await addOurs("before", mod)
    }
    await addOurs("after", RedisRateLimiterStore)
    const rlfClient = new Redis({ port })
    const rlf = new RateLimiterRedis({ storeClient: rlfClient, points: BURST, duration: 60, keyPrefix: "rlf" })
    variants.push({
      label: "rlf: RateLimiterRedis",
      run: promiseWorkers((i) => rlf.consume(keys[i % keys.length]).catch(() => void errors++))
    })

    if (only !== undefined) variants.splice(0, variants.length, ...variants.filter((v) => v.label.includes(only)))
    const evalsha = async () => {
      const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await admin.info("commandstats"))
      return m === null ? [0, 0] : [Number(m[1]), Number(m[2])]
    }
    const serverPid = server.pid!
    const tick = 10 // ms per clock tick (CLK_TCK 100)
    for (const concurrency of concurrencies) {
      for (const v of variants) await v.run(concurrency, 3_000) // warm-up
      const wall: Array<Array<number>> = variants.map(() => [])
      const ccpu: Array<Array<number>> = variants.map(() => [])
      const scpu: Array<Array<number>> = variants.map(() => [])
      const script: Array<Array<number>> = variants.map(() => [])
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < variants.length; i++) {
          const n = roundOps * (concurrency === 1 ? 1 : 3)
          const e0 = await evalsha()
          const c0 = process.cpuUsage()
          const s0 = cpuTicks(serverPid)
          const t0 = now()
          await variants[i].run(concurrency, n)
          const t1 = now()
          const c1 = process.cpuUsage(c0)
          const s1 = cpuTicks(serverPid)
          wall[i].push(n / ((t1 - t0) / 1000))
          ccpu[i].push((c1.user + c1.system) / n)
          scpu[i].push(((s1 - s0) * tick * 1000) / n)
          const e1 = await evalsha()
          script[i].push((e1[1] - e0[1]) / Math.max(1, e1[0] - e0[0]))
        }
      }
      console.log(
        `\nconcurrency ${concurrency} (${
          real ? "real: SET every call" : "1e9/s: DEL every call"
        }), ${rounds} rounds, load ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join("/")}`
      )
      for (let i = 0; i < variants.length; i++) {
        const rates = [...wall[i]].sort((a, b) => a - b)
        console.log(
          `${variants[i].label.padEnd(32)} ${Math.round(median(wall[i])).toString().padStart(7)}/s  ` +
            `range ${Math.round(rates[0])}–${Math.round(rates[rates.length - 1])}  ` +
            `client ${median(ccpu[i]).toFixed(1)} µs CPU/op  server ${median(scpu[i]).toFixed(1)} µs CPU/op  script ${
              median(script[i]).toFixed(2)
            } µs`
        )
      }
    }
    const stats = await admin.info("commandstats")
    console.log("\n" + stats.split("\n").filter((l) => /evalsha|cmdstat_eval:/.test(l)).join("\n"))
    rlfClient.disconnect()
    console.log(`errors: ${errors}`)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    admin.disconnect()
    server.kill("SIGTERM")
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
