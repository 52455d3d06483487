/**
 * Section 3: Redis store decisions per second on one local redis-server
 * (started here on a free port, no persistence, stopped at the end), with one
 * caller and with 64 concurrent callers, 1,000 keys round-robin, every
 * decision allowed.
 *
 * Ours: `RateLimiter.consume` over `RedisRateLimiterStore` (its own Lua
 * scripts: one EVALSHA per decision for a lone caller, one per batch of up
 * to 16 decisions when callers overlap), as configured by default and with
 * ioredis' `enableAutoPipelining`. rate-limiter-flexible: `RateLimiterRedis`
 * on an ioredis client. Ceiling: `redis-benchmark` sending the very EVALSHA our
 * store sends for one decision (same script, same arguments), at -c 1 and
 * -c 64 without -P, and -c 1 -P 64.
 *
 * Multi-window rows (issue 19): the same limiter with one window and with
 * three (1 s + 1 min + 1 day), one windows-script EVALSHA per decision
 * (never batched); beside rate-limiter-flexible's `RateLimiterUnion` of three
 * `RateLimiterRedis` (three round trips, not atomic).
 */
import { Effect, Exit, Scope } from "effect"
import { Redis } from "ioredis"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { RateLimiterRedis, RateLimiterUnion } from "rate-limiter-flexible"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import * as Script from "../../packages/redis/src/internal/script.js"
import * as RedisRateLimiterStore from "../../packages/redis/src/RedisRateLimiterStore.js"
import type { SectionResult, Settings, Target, Variant } from "./harness.js"
import { errorText, fmtInt, fmtRatio, freePort, log, measure, skipped, spread } from "./harness.js"
import { keysOf } from "./memoryLimiter.js"

const TITLE = "3. Redis store decisions per second (one local redis-server)"
// A huge burst that refills at 1,000 tokens/s: no call is ever rejected, and every call really
// writes its key (SET with its tat and TTL), as in real use. A rate of 1e9/s would instead let the
// script DEL the key on every call (the bucket is full again within the clock's precision),
// which is cheaper than real use and flattered our figures.
const RATE = 1_000
const LIMIT = 1_000_000_000

const which = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/bin", "/usr/local/bin"])) {
    const file = `${dir}/${name}`
    if (existsSync(file)) return file
  }
  return undefined
}

const startRedis = async (bin: string, port: number): Promise<ChildProcess> => {
  const child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })
  const client = new Redis({ port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 })
  client.on("error", () => {})
  const deadline = Date.now() + 5_000
  for (;;) {
    try {
      await client.connect()
      await client.ping()
      client.disconnect()
      return child
    } catch (error) {
      client.disconnect()
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL")
        throw new Error(`redis-server did not start: ${errorText(error)}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

const redisBenchmark = (
  bin: string,
  port: number,
  clients: number,
  pipeline: number,
  requests: number
): Promise<number> =>
  new Promise((resolve, reject) => {
    // the exact arguments of a consume on one bucket (see packages/redis/src/internal/script.ts)
    const args = [
      "-p",
      String(port),
      "-n",
      String(requests),
      "-c",
      String(clients),
      "-P",
      String(pipeline),
      "-r",
      "1000",
      "--csv",
      "evalsha",
      Script.sha1,
      "1",
      "{bench}:key:__rand_int__",
      "c",
      "1000",
      "1",
      "0",
      String(RATE),
      String(LIMIT)
    ]
    execFile(bin, args, { timeout: 120_000 }, (error, stdout) => {
      if (error) return reject(error)
      // "test","rps",...  then  "EVALSHA ...","12345.67",...
      const line = stdout.trim().split("\n").find((l) => /^"(?!test")/.test(l))
      const rps = line === undefined ? Number.NaN : Number(line.split(",")[1]?.replace(/"/g, ""))
      if (!Number.isFinite(rps)) return reject(new Error(`unexpected redis-benchmark output: ${stdout.slice(0, 200)}`))
      resolve(rps)
    })
  })

/** n decisions spread over `concurrency` callers (each awaits its own decision before the next). */
const promiseWorkers = (concurrency: number, call: (i: number) => Promise<unknown>) => async (n: number) => {
  let next = 0
  const worker = async () => {
    while (next < n) await call(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

const effectWorkers = (concurrency: number, call: (i: number) => Effect.Effect<unknown, unknown>) => (n: number) => {
  let next = 0
  const worker = Effect.whileLoop({ while: () => next < n, body: () => call(next++), step: () => {} })
  return Effect.runPromise(
    Effect.forEach(Array.from({ length: concurrency }), () => worker, { concurrency: "unbounded", discard: true })
  )
}

export const run = async (settings: Settings): Promise<SectionResult> => {
  const serverBin = which("redis-server")
  if (serverBin === undefined) return skipped(TITLE, "redis-server not found on PATH")
  const benchBin = which("redis-benchmark")
  const port = await freePort()
  let server: ChildProcess
  try {
    server = await startRedis(serverBin, port)
  } catch (error) {
    return skipped(TITLE, errorText(error))
  }
  const scope = await Effect.runPromise(Scope.make())
  const clients: Array<Redis> = []
  try {
    const url = `redis://127.0.0.1:${port}`
    const makeOurs = (autoPipelining: boolean, windows?: ReadonlyArray<RateLimiter.Window>) =>
      Effect.runPromise(
        Effect.gen(function*() {
          const store = yield* RedisRateLimiterStore.make({
            url,
            // surface errors rather than letting the fallback answer (it would flatter the figures)
            onError: "fail",
            timeout: "5 seconds",
            redisOptions: autoPipelining ? { enableAutoPipelining: true } : undefined
          })
          return yield* RateLimiter.make({
            name: windows === undefined ? "bench" : `bench${windows.length}w`,
            tokensPerSecond: RATE,
            burstSize: LIMIT,
            windows
          }).pipe(
            Effect.provideService(RateLimiterStore.RateLimiterStore, store)
          )
        }).pipe(Scope.extend(scope))
      )
    const ours = await makeOurs(false)
    const oursPipelined = await makeOurs(true)
    const oursOneWindow = await makeOurs(false, [{ limit: LIMIT, per: "1 minute" }])
    const oursThreeWindows = await makeOurs(false, [
      { limit: LIMIT, per: "1 second" },
      { limit: LIMIT, per: "1 minute" },
      { limit: LIMIT, per: "1 day" }
    ])
    const rlfClient = new Redis({ port, enableOfflineQueue: true })
    clients.push(rlfClient)
    const rlf = new RateLimiterRedis({ storeClient: rlfClient, points: LIMIT, duration: 60, keyPrefix: "rlf" })
    const keys = keysOf(1_000)
    let errors = 0
    const oursCall = (limiter: RateLimiter.Service) => (i: number) =>
      Effect.catchAll(limiter.consume(keys[i % keys.length]), () => Effect.sync(() => void errors++))
    const rlfCall = (i: number) => rlf.consume(keys[i % keys.length]).catch(() => void errors++)
    const rlfUnion = new RateLimiterUnion(
      new RateLimiterRedis({ storeClient: rlfClient, points: LIMIT, duration: 1, keyPrefix: "rlfs" }),
      new RateLimiterRedis({ storeClient: rlfClient, points: LIMIT, duration: 60, keyPrefix: "rlfm" }),
      new RateLimiterRedis({ storeClient: rlfClient, points: LIMIT, duration: 86_400, keyPrefix: "rlfd" })
    )
    const rlfUnionCall = (i: number) => rlfUnion.consume(keys[i % keys.length]).catch(() => void errors++)

    // network round trips: fewer, longer rounds are enough
    const redisSettings: Settings = { ...settings, rounds: Math.max(3, Math.ceil(settings.rounds / 2)) }
    const rows: Array<Array<string>> = []
    const targets: Array<Target> = []
    const rates: Record<number, { ours: number; pipelined: number; rlf: number; ceiling: number }> = {}
    for (const concurrency of [1, 64]) {
      log(`redis: concurrency ${concurrency}`)
      const variants: Array<Variant> = [
        { label: "ours: RedisRateLimiterStore (default options)", run: effectWorkers(concurrency, oursCall(ours)) },
        {
          label: "ours: RedisRateLimiterStore + enableAutoPipelining",
          run: effectWorkers(concurrency, oursCall(oursPipelined))
        },
        { label: "rate-limiter-flexible: RateLimiterRedis", run: promiseWorkers(concurrency, rlfCall) },
        {
          label: "ours: bucket + 1 window (1 min), windows script",
          run: effectWorkers(concurrency, oursCall(oursOneWindow))
        },
        {
          label: "ours: bucket + 3 windows (1 s, 1 min, 1 day), windows script",
          run: effectWorkers(concurrency, oursCall(oursThreeWindows))
        },
        {
          label: "rate-limiter-flexible: RateLimiterUnion of 3 RateLimiterRedis (not atomic)",
          run: promiseWorkers(concurrency, rlfUnionCall)
        }
      ]
      const measured = await measure(redisSettings, variants)
      let ceiling = Number.NaN as number
      let ceilingNote = "redis-benchmark not found"
      if (benchBin !== undefined) {
        try {
          // load the script first (our store would on its first NOSCRIPT)
          await rlfClient.script("LOAD", Script.source)
          // 64 callers: as many connections (-c 64), or 64 in flight on one connection (-c 1 -P 64, what a
          // multiplexing client does); the ceiling is the better of the two
          const shapes: Array<[number, number]> = concurrency === 1 ? [[1, 1]] : [[concurrency, 1], [1, concurrency]]
          const found: Array<string> = []
          for (const [c, p] of shapes) {
            const samples: Array<number> = []
            for (let r = 0; r < (settings.quick ? 1 : 3); r++) {
              samples.push(await redisBenchmark(benchBin, port, c, p, settings.quick ? 5_000 : 20_000))
            }
            samples.sort((a, b) => a - b)
            const rps = samples[samples.length >> 1]
            found.push(`-c ${c} -P ${p}: ${fmtInt(rps)}/s`)
            if (!(rps <= ceiling)) ceiling = rps
          }
          ceilingNote = found.join(", ")
        } catch (error) {
          ceilingNote = `redis-benchmark failed: ${errorText(error)}`
        }
      }
      const rate = (i: number) => 1e9 / measured[i].nsPerOp
      rates[concurrency] = { ours: rate(0), pipelined: rate(1), rlf: rate(2), ceiling }
      for (let i = 0; i < measured.length; i++) {
        rows.push([
          String(concurrency),
          measured[i].label,
          fmtInt(rate(i)),
          fmtRatio(rate(i) / rate(2)),
          Number.isFinite(ceiling) ? `${((rate(i) / ceiling) * 100).toFixed(0)}%` : "n/a",
          `${spread(measured[i].samples).toFixed(0)}%`
        ])
      }
      rows.push([
        String(concurrency),
        `ceiling: redis-benchmark EVALSHA (same script; ${ceilingNote})`,
        Number.isFinite(ceiling) ? fmtInt(ceiling) : "n/a",
        Number.isFinite(ceiling) ? fmtRatio(ceiling / rate(2)) : "n/a",
        "100%",
        ""
      ])
    }
    const c1 = rates[1]
    const c64 = rates[64]
    targets.push(
      { name: "Redis, concurrency 1 vs rlf", goal: "≥ 1×", actual: fmtRatio(c1.ours / c1.rlf), met: c1.ours >= c1.rlf },
      {
        name: "Redis, concurrency 64 vs rlf (default options)",
        goal: "≥ 2×",
        actual: `${fmtRatio(c64.ours / c64.rlf)} (auto-pipelining: ${fmtRatio(c64.pipelined / c64.rlf)})`,
        met: c64.ours >= 2 * c64.rlf
      },
      {
        name: "Redis vs EVALSHA ceiling (default options)",
        goal: "≥ 70%",
        actual: Number.isFinite(c1.ceiling)
          ? `c=1: ${((c1.ours / c1.ceiling) * 100).toFixed(0)}%, c=64: ${((c64.ours / c64.ceiling) * 100).toFixed(0)}%`
          : "n/a",
        met: Number.isFinite(c1.ceiling) ? c1.ours >= 0.7 * c1.ceiling && c64.ours >= 0.7 * c64.ceiling : undefined
      }
    )
    return {
      title: TITLE,
      tables: [{ columns: ["callers", "store", "decisions/s", "vs rlf", "of ceiling", "spread"], rows }],
      notes: [
        `redis-server ${port} on loopback (no persistence), started and stopped by the bench; the client and the server share the machine's cores.`,
        "Ours runs with `onError: \"fail\"` and a 5 s timeout so a slow reply is an error, not a silent memory-fallback decision; " +
        `errors seen: ${errors}.`,
        "64 callers = 64 fibers (ours) / 64 async loops (rlf), each awaiting its decision before the next. " +
        "The ceiling is redis-benchmark's rate for the same EVALSHA (our one-decision script, our arguments): -c 1 for one caller; " +
        "for 64, the better of 64 connections (-c 64) and 64 pipelined on one connection (-c 1 -P 64), since our store " +
        "multiplexes every caller on one connection. With overlapping callers our store decides up to 16 decisions per " +
        "script run (`maxBatchSize`), so it can pass that one-decision-per-EVALSHA ceiling.",
        "rate-limiter-flexible's RateLimiterRedis: its own Lua script (INCRBY + PEXPIRE, fixed window), one round trip."
      ],
      targets
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    for (const c of clients) c.disconnect()
    server.kill("SIGTERM")
  }
}
