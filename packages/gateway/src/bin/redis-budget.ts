/**
 * `pnpm --filter @effect-resilience/gateway exec tsx src/bin/redis-budget.ts [--phase-seconds S] [--budget-millis B]`:
 * the measurement behind the Redis store's decision budget (`timeout`, default 500 ms). It starts a healthy
 * local `redis-server`, the gateway on it (`REDIS_URL`, in this process) and a `pnpm chaos` run against it
 * (in this process too, as `pnpm chaos` does when no gateway answers: the worst case, clients and server on one
 * event loop). Meanwhile a probe store on the same Redis, with a 10 s budget, times one decision every 10 ms.
 *
 * It prints the probe's decision latency (what a budget must cover without the store's stall forgiveness),
 * the event loop's delay, and what the gateway's store reported at its budget: degraded episodes (its WARN
 * lines) and decisions timed out (`resilience_rate_limiter_store_errors_total`). Bounded: four phases
 * of `S` seconds (default 6). Needs `redis-server` on the PATH.
 *
 * @since 0.1.0
 */
import * as RedisRateLimiterStore from "@effect-resilience/redis/RedisRateLimiterStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as Chaos from "../Chaos.js"
import * as Gateway from "../Gateway.js"
import * as GatewayConfig from "../GatewayConfig.js"

const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name)
  const value = i === -1 ? fallback : Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`)
  return value
}
const phaseSeconds = flag("--phase-seconds", 6)
const budgetMillis = flag("--budget-millis", 500)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const main = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  const redis = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: "ignore"
      })
    ),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )
  yield* Effect.sleep("300 millis")
  if (redis.exitCode !== null) return yield* Effect.die(new Error("redis-server did not start"))
  const url = `redis://127.0.0.1:${port}`

  const degradedLines: Array<string> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.join(" ") : String(message)
    if (logLevel._tag === "Warning" && text.includes("degraded")) {
      degradedLines.push(`${text} ${JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)))}`)
    }
  })
  const config = GatewayConfig.make({
    port: 0,
    demoTraffic: 0,
    redisUrl: Option.some(Redacted.make(url)),
    redisOnError: "fallback-memory",
    rateLimit: { apiKeys: Chaos.apiKeys(16) }
  })
  const context = yield* Layer.build(
    Gateway.layer(config).pipe(
      Layer.provide(Logger.replace(Logger.defaultLogger, logger)),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
    )
  )
  const gateway = yield* Effect.provide(Gateway.GatewayServer, context)

  const probe = yield* RedisRateLimiterStore.make({ url, prefix: "budget-probe:", timeout: "10 seconds" })
  const latencies: Array<number> = []
  const request = { buckets: [{ key: "p", tokensPerSecond: 1e6, burstSize: 1e6 }], cost: 1, maxWaitMillis: 0 }
  const sampler = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
    const start = performance.now()
    yield* Effect.ignore(probe.consume(request))
    latencies.push(performance.now() - start)
    yield* Effect.sleep("10 millis")
  })))

  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const report = yield* Effect.promise(() => Chaos.run({ url: gateway.url, clients: 16, phaseSeconds, log: () => {} }))
  loop.disable()
  yield* Fiber.interrupt(sampler)
  const metrics = yield* Effect.promise(() =>
    fetch(`${gateway.url}/metrics`, { headers: { "x-api-key": "chaos-admin" } }).then((r) => r.text())
  )
  const timeouts = metrics.split("\n").filter((l) =>
    l.startsWith("resilience_rate_limiter_store_errors_total") && l.includes("reason=\"timeout\"")
  ).map((l) => Number(l.slice(l.lastIndexOf(" ") + 1))).reduce((a, b) => a + b, 0)

  const sorted = [...latencies].sort((a, b) => a - b)
  const ms = (n: number) => `${n.toFixed(1)} ms`
  console.log(`chaos load: ${report.total.requests} requests in ${4 * phaseSeconds} s, 16 clients, Redis limiter`)
  console.log(
    `probe decisions (${sorted.length}): p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}, ` +
      `p99.9 ${ms(percentile(sorted, 0.999))}, max ${ms(sorted[sorted.length - 1] ?? NaN)}; over ${budgetMillis} ms: ${
        sorted.filter((l) => l > budgetMillis).length
      }`
  )
  console.log(
    `event-loop delay: p50 ${ms(loop.percentile(50) / 1e6)}, p99 ${ms(loop.percentile(99) / 1e6)}, max ${
      ms(loop.max / 1e6)
    }`
  )
  console.log(
    `gateway store (budget ${
      Duration.format(Duration.millis(500))
    }, the default): degraded episodes ${degradedLines.length}, decisions timed out ${timeouts}`
  )
  for (const line of degradedLines) console.log(`  ${line}`)
  for (const line of metrics.split("\n").filter((l) => l.includes("rate_limiter_store"))) console.log(`  ${line}`)
})

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
