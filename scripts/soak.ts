/**
 * `pnpm soak [--seconds N] [--only bars,slowloris,bodies,shutdown] [--write]`: hostile
 * traffic against real gateway processes on loopback, measured, printed as a
 * table. Bounded: every phase lasts `--seconds` (default 10), every request
 * has a client-side timeout, every process it starts (gateways, a
 * redis-server) is killed when it ends, whatever happens, and a watchdog ends
 * the run after 10 minutes.
 *
 * - bars: `/health` latency while maximal bar queries run
 *   (`timeframe=1m&from=<a year ago>&limit=10000`, 4 at a time). Goal: p99 < 100 ms.
 * - slowloris: a fast client's latency (10 requests/s) beside 300 connections
 *   holding half-sent `POST /orders` bodies. Goal: p99 < 100 ms, all 2xx.
 * - bodies: the gateway's peak RSS under 50 concurrent 5 MB order bodies.
 *   Goal: 413 for each, RSS < 400 MB.
 * - shutdown: time from SIGTERM to exit with a half-sent body, 5 open SSE
 *   streams and requests in flight, in memory and Redis modes. Goal: within
 *   SHUTDOWN_TIMEOUT + 1 s; no request sent before the signal reset.
 *
 * `--write` also puts the table in BENCHMARKS.md (its own marked section,
 * which `pnpm bench` keeps). Never a test (the figures depend on the
 * machine): `pnpm test` has the hostile-traffic test, which asserts outcomes
 * only.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { withSection } from "./lib/benchmarksSection.js"
import { type GatewayProcess, startGateway } from "./lib/gatewayProcess.js"

// --- options ----------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const seconds = Number(option("--seconds") ?? 10)
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 120) {
  console.error("--seconds needs a number in (0, 120]")
  process.exit(2)
}
const scenarios = ["bars", "slowloris", "bodies", "shutdown"]
const only = (option("--only") ?? scenarios.join(",")).split(",")
for (const name of only) {
  if (!scenarios.includes(name)) {
    console.error(`--only: unknown scenario ${name} (one of ${scenarios.join(", ")})`)
    process.exit(2)
  }
}
const write = argv.includes("--write")
const phaseMillis = seconds * 1000
const SHUTDOWN_TIMEOUT_SECONDS = 3

// Whatever happens, the run ends: children are killed on exit (see gatewayProcess.ts).
setTimeout(() => {
  console.error("soak: watchdog: still running after 10 minutes, stopping")
  process.exit(2)
}, 10 * 60_000).unref()
process.on("SIGINT", () => process.exit(130))
process.on("SIGTERM", () => process.exit(143))

// --- helpers ----------------------------------------------------------------------------------

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

interface Timed {
  readonly millis: number
  /** The status, or the error's code ("timeout", "ECONNRESET", …). */
  readonly outcome: number | string
}

/** One request with a client-side timeout; never throws. */
const timed = async (url: string, init: RequestInit = {}, timeoutMillis = 5_000): Promise<Timed> => {
  const start = performance.now()
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMillis) })
    await res.arrayBuffer()
    return { millis: performance.now() - start, outcome: res.status }
  } catch (error) {
    return { millis: performance.now() - start, outcome: errorCode(error) }
  }
}

const errorCode = (error: unknown): string => {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "timeout"
    const cause = (error as { cause?: { code?: unknown } }).cause
    if (typeof cause?.code === "string") return cause.code
    return error.name
  }
  return "error"
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** "200×95 503×5": how many of each outcome. */
const outcomes = (results: ReadonlyArray<Timed>): string => {
  const counts = new Map<string, number>()
  for (const r of results) counts.set(String(r.outcome), (counts.get(String(r.outcome)) ?? 0) + 1)
  return [...counts].sort().map(([k, n]) => `${k}×${n}`).join(" ")
}

/** The process's resident set (MB), from /proc (Linux). */
const rssMb = (pid: number): number => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
    return kb / 1024
  } catch {
    return Number.NaN
  }
}

/** Calls `fire` every `everyMillis` until `untilMillis` (performance.now()), awaiting all it started. */
const paced = async (everyMillis: number, untilMillis: number, fire: () => Promise<void>) => {
  const running: Array<Promise<void>> = []
  while (performance.now() < untilMillis) {
    running.push(fire())
    await sleep(everyMillis)
  }
  await Promise.all(running)
}

interface Line {
  readonly scenario: string
  readonly measure: string
  readonly value: string
  readonly goal: string
  readonly ok: boolean | undefined
}
const lines: Array<Line> = []
const report = (line: Line) => {
  lines.push(line)
  const mark = line.ok === undefined ? " " : line.ok ? "✓" : "✗"
  console.log(`  ${mark} ${line.scenario}: ${line.measure} = ${line.value}${line.goal ? ` (goal ${line.goal})` : ""}`)
}
const ms = (n: number) => (Number.isNaN(n) ? "n/a" : `${n.toFixed(n < 10 ? 1 : 0)} ms`)

const withGateway = async <A>(env: Record<string, string>, f: (gateway: GatewayProcess) => Promise<A>) => {
  const gateway = await startGateway({ DEMO_TRAFFIC: "0", ...env })
  try {
    return await f(gateway)
  } finally {
    await gateway.kill()
  }
}

// --- bars: /health while maximal bar queries run -----------------------------------------------

const bars = () =>
  withGateway({}, async (gateway) => {
    const from = new Date(Date.now() - 365 * 24 * 3600_000).toISOString().slice(0, 10)
    const query = `${gateway.url}/marketdata/bars/AAPL?timeframe=1m&from=${from}&limit=10000`
    const until = performance.now() + phaseMillis
    const barResults: Array<Timed> = []
    const heavy = Array.from({ length: 4 }, async (_, i) => {
      while (performance.now() < until) {
        barResults.push(await timed(query, { headers: { "x-api-key": `bars-${i}` } }, phaseMillis))
      }
    })
    const health: Array<Timed> = []
    let peak = rssMb(gateway.pid)
    await paced(50, until, async () => {
      peak = Math.max(peak, rssMb(gateway.pid))
      health.push(await timed(`${gateway.url}/health`, {}, 2_000))
    })
    await Promise.all(heavy)
    const p99 = percentile(health.map((r) => r.millis), 99)
    report({
      scenario: "bars",
      measure: "/health p99 during maximal bar queries",
      value: `${ms(p99)} (p50 ${ms(percentile(health.map((r) => r.millis), 50))}, ${outcomes(health)})`,
      goal: "< 100 ms",
      ok: p99 < 100 && health.every((r) => r.outcome === 200)
    })
    report({
      scenario: "bars",
      measure: "bar queries (1m, a year, limit 10000)",
      value: `${outcomes(barResults)}, p50 ${ms(percentile(barResults.map((r) => r.millis), 50))}`,
      goal: "answered or 400",
      ok: barResults.length > 0 && barResults.every((r) => r.outcome === 200 || r.outcome === 400)
    })
    report({ scenario: "bars", measure: "gateway peak RSS", value: `${peak.toFixed(0)} MB`, goal: "", ok: undefined })
  })

// --- slowloris: a fast client beside 300 half-sent bodies ---------------------------------------

/** A connection that sends the headers of a POST /orders and half its body, then nothing. */
const halfSentBody = (url: string, key: string): Promise<Net.Socket> => {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = Net.connect({ host: hostname, port: Number(port) })
    const body = JSON.stringify({ symbol: "AAPL", side: "buy", qty: 1, type: "market" })
    socket.on("error", () => {}) // the server may cut it off: that is its right
    socket.on("connect", () => {
      socket.write(
        `POST /orders HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
          `x-api-key: ${key}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, body.length >> 1)}`
      )
      resolve(socket)
    })
    socket.setTimeout(60_000, () => socket.destroy())
  })
}

const slowloris = () =>
  withGateway({}, async (gateway) => {
    const sockets = await Promise.all(Array.from({ length: 300 }, (_, i) => halfSentBody(gateway.url, `slow-${i}`)))
    try {
      await sleep(500)
      const fast: Array<Timed> = []
      await paced(100, performance.now() + phaseMillis, async () => {
        fast.push(await timed(`${gateway.url}/marketdata/quote/AAPL`, { headers: { "x-api-key": "fast" } }, 5_000))
      })
      const open = sockets.filter((s) => !s.destroyed).length
      const p99 = percentile(fast.map((r) => r.millis), 99)
      report({
        scenario: "slowloris",
        measure: "fast client p99 beside 300 half-sent bodies",
        value: `${ms(p99)} (${outcomes(fast)})`,
        goal: "< 100 ms, all 2xx",
        ok: p99 < 100 && fast.every((r) => typeof r.outcome === "number" && r.outcome < 300)
      })
      report({
        scenario: "slowloris",
        measure: "slow connections still open at the end",
        value: `${open} of 300`,
        goal: "",
        ok: undefined
      })
    } finally {
      for (const socket of sockets) socket.destroy()
    }
  })

// --- bodies: 50 × 5 MB ---------------------------------------------------------------------------

const bodies = () =>
  withGateway({}, async (gateway) => {
    const pad = "x".repeat(5 * 1024 * 1024)
    const body = `{"symbol":"AAPL","side":"buy","qty":1,"type":"market","note":"${pad}"}`
    let peak = rssMb(gateway.pid)
    const before = peak
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, rssMb(gateway.pid))
        await sleep(50)
      }
    })()
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      timed(`${gateway.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": `flood-${i}` },
        body
      }, 60_000)))
    await sleep(500)
    sampling = false
    await sampler
    report({
      scenario: "bodies",
      measure: "50 × 5 MB order bodies",
      value: outcomes(results),
      goal: "413 each",
      ok: results.every((r) => r.outcome === 413)
    })
    report({
      scenario: "bodies",
      measure: "gateway peak RSS",
      value: `${peak.toFixed(0)} MB (${before.toFixed(0)} MB before)`,
      goal: "< 400 MB",
      ok: peak < 400
    })
  })

// --- shutdown: SIGTERM with a half-sent body, SSE streams and requests in flight ----------------

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** A redis-server of its own on a free loopback port, no persistence; killed on exit. */
const startRedis = async (): Promise<{ readonly url: string; readonly stop: () => void }> => {
  const port = await freePort()
  const child: ChildProcess = spawn(
    process.env["REDIS_SERVER"] ?? "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" }
  )
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  process.on("exit", stop)
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = Net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on("error", () => resolve(false))
    })
    if (up) return { url: `redis://127.0.0.1:${port}`, stop }
    await sleep(50)
  }
  stop()
  throw new Error(`redis-server did not start on port ${port} within 10 s`)
}

/** An open server-sent event stream (`/dashboard/events`), read and discarded. */
const sse = (url: string): Http.ClientRequest => {
  const request = Http.get(`${url}/dashboard/events`, (res) => res.resume())
  request.on("error", () => {})
  return request
}

const shutdownIn = async (mode: "memory" | "redis") => {
  const redis = mode === "redis" ? await startRedis() : undefined
  try {
    const gateway = await startGateway({
      DEMO_TRAFFIC: "0",
      SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_SECONDS} seconds`,
      ...(redis === undefined ? {} : { REDIS_URL: redis.url })
    })
    const half = await halfSentBody(gateway.url, "half")
    const streams = Array.from({ length: 5 }, () => sse(gateway.url))
    let signalledAt = Number.POSITIVE_INFINITY
    let stop = false
    const beforeSignal: Array<Timed> = []
    const load = Array.from({ length: 8 }, async (_, i) => {
      while (!stop) {
        const sentAt = performance.now()
        const result = await timed(`${gateway.url}/marketdata/quote/AAPL`, { headers: { "x-api-key": `load-${i}` } })
        if (sentAt < signalledAt) beforeSignal.push(result)
        if (typeof result.outcome === "string") await sleep(50) // refused after the signal: as expected
      }
    })
    try {
      await sleep(Math.min(phaseMillis, 3_000))
      const limit = (SHUTDOWN_TIMEOUT_SECONDS + 10) * 1000
      signalledAt = performance.now()
      gateway.child.kill("SIGTERM")
      const exited = await Promise.race([gateway.exited.then(() => true), sleep(limit).then(() => false)])
      const took = performance.now() - signalledAt
      const goal = (SHUTDOWN_TIMEOUT_SECONDS + 1) * 1000
      report({
        scenario: `shutdown (${mode})`,
        measure: `SIGTERM → exit, SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT_SECONDS}s`,
        value: exited ? ms(took) : `still running after ${limit / 1000} s: killed`,
        goal: `≤ ${goal} ms`,
        ok: exited && took <= goal
      })
      const resets = beforeSignal.filter((r) => r.outcome === "ECONNRESET" || r.outcome === "UND_ERR_SOCKET")
      report({
        scenario: `shutdown (${mode})`,
        measure: "requests sent before the signal",
        value: outcomes(beforeSignal),
        goal: "no connection reset",
        ok: resets.length === 0
      })
    } finally {
      stop = true
      half.destroy()
      for (const stream of streams) stream.destroy()
      await gateway.kill()
      await Promise.all(load)
    }
  } finally {
    redis?.stop()
  }
}

// --- run ---------------------------------------------------------------------------------------

const commit = () => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

const markdown = (load: ReadonlyArray<number>, missed: number) => {
  const cell = (text: string) => text.replace(/\|/g, "\\|")
  return [
    "## Hostile traffic (`pnpm soak`)",
    "",
    `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${commit()}, ${Os.cpus().length} cores, ` +
    `load average ${load.map((n) => n.toFixed(1)).join(" / ")} at the start, ${seconds} s per phase. ` +
    `Real gateway processes on loopback; goals as in issue 12. ${
      missed === 0 ? "Every goal met." : `${missed} goal(s) missed.`
    }`,
    "",
    "| scenario | measure | value | goal | |",
    "|---|---|---|---|---|",
    ...lines.map((l) =>
      `| ${cell(l.scenario)} | ${cell(l.measure)} | ${cell(l.value)} | ${cell(l.goal)} | ${
        l.ok === undefined ? "" : l.ok ? "ok" : "missed"
      } |`
    ),
    ""
  ].join("\n")
}

const startedLoad = Os.loadavg()

const run = async () => {
  console.log(`soak: ${only.join(", ")} (${seconds} s per phase), loopback only\n`)
  const all: Record<string, () => Promise<void>> = {
    bars,
    slowloris,
    bodies,
    shutdown: async () => {
      await shutdownIn("memory")
      await shutdownIn("redis")
    }
  }
  for (const name of only) {
    console.log(`${name}…`)
    try {
      await all[name]!()
    } catch (error) {
      report({
        scenario: name,
        measure: "run",
        value: `failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
        goal: "",
        ok: false
      })
    }
  }
  const width = (f: (l: Line) => string, title: string) => Math.max(title.length, ...lines.map((l) => f(l).length))
  const columns: Array<[string, (l: Line) => string]> = [
    ["scenario", (l) => l.scenario],
    ["measure", (l) => l.measure],
    ["value", (l) => l.value],
    ["goal", (l) => l.goal],
    ["", (l) => (l.ok === undefined ? "" : l.ok ? "ok" : "MISSED")]
  ]
  const widths = columns.map(([title, f]) => width(f, title))
  const row = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  console.log(`\n${row(columns.map(([title]) => title))}`)
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const line of lines) console.log(row(columns.map(([, f]) => f(line))))
  const missed = lines.filter((l) => l.ok === false).length
  console.log(`\n${missed === 0 ? "every goal met" : `${missed} goal(s) missed`}`)
  if (write) {
    const file = Path.resolve(import.meta.dirname, "../BENCHMARKS.md")
    Fs.writeFileSync(file, withSection(file, "soak", markdown(startedLoad, missed)))
    console.log(`wrote the soak section of ${Path.relative(process.cwd(), file)}`)
  }
  process.exitCode = missed === 0 ? 0 : 1
}

run().catch((error) => {
  console.error(error)
  process.exitCode = 2
}).finally(() => {
  // exit now: a socket or timer left behind must not keep the run alive (children are killed on exit)
  setTimeout(() => process.exit(), 100)
})
