/**
 * Section 4: requests per second and p99 latency of a minimal server, with
 * and without a rate limiter: our HttpApi + `RateLimit` middleware beside
 * fastify + `@fastify/rate-limit`.
 *
 * Each server runs in a child process of its own (see http-server.ts), all
 * four started up front; autocannon runs here, in this process, against one
 * of them at a time, round-robin, so on a 2-core machine the load generator
 * and the server under test each get about one core and noise spreads over
 * all four.
 */
import autocannon from "autocannon"
import { type ChildProcess, spawn } from "node:child_process"
import type { SectionResult, Settings, Target } from "./harness.js"
import { errorText, fmtInt, freePort, log, median, repoRoot, scriptArgs, skipped } from "./harness.js"

const TITLE = "4. HTTP: requests per second and p99 latency"
const CONNECTIONS = 50

interface Server {
  readonly variant: string
  readonly label: string
  readonly port: number
  readonly child: ChildProcess
}

const start = async (variant: string, label: string): Promise<Server> => {
  const port = await freePort()
  const child = spawn(process.execPath, [...scriptArgs("http-server.ts"), variant, String(port)], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stderr = ""
  child.stderr!.on("data", (d) => (stderr += d))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${variant} did not start in 60 s: ${stderr.slice(0, 300)}`)),
      60_000
    )
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("listening")) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${variant} exited with ${code}: ${stderr.slice(0, 300)}`))
    })
  })
  return { variant, label, port, child }
}

const load = (server: Server, seconds: number) =>
  autocannon({ url: `http://127.0.0.1:${server.port}/hello`, connections: CONNECTIONS, duration: seconds })

export const run = async (settings: Settings): Promise<SectionResult> => {
  const servers: Array<Server> = []
  try {
    const wanted: Array<[string, string]> = [
      ["effect", "Effect HttpApi"],
      ["effect-ratelimit", "Effect HttpApi + our RateLimit middleware"],
      ["fastify", "fastify"],
      ["fastify-ratelimit", "fastify + @fastify/rate-limit"]
    ]
    // started together: four start-ups take a while on a busy machine
    const started = await Promise.allSettled(wanted.map(([variant, label]) => start(variant, label)))
    for (const s of started) if (s.status === "fulfilled") servers.push(s.value)
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected")
    if (failed !== undefined) return skipped(TITLE, `a server did not start: ${errorText(failed.reason)}`)
    const seconds = settings.quick ? 1.5 : 4
    const rounds = settings.quick ? 1 : 7
    log(`http: warm-up`)
    for (const s of servers) await load(s, settings.quick ? 0.5 : 3)
    const rps: Array<Array<number>> = servers.map(() => [])
    const p99: Array<Array<number>> = servers.map(() => [])
    let errors = 0
    for (let r = 0; r < rounds; r++) {
      // each server right beside its baseline, the pair's order flipped every other round (drift cancels out)
      const order = r % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2]
      for (const i of order) {
        log(`http: round ${r + 1}/${rounds} ${servers[i].variant}`)
        const result = await load(servers[i], seconds)
        errors += result.errors + result.timeouts + result.non2xx
        rps[i].push(result.requests.average)
        p99[i].push(result.latency.p99)
      }
    }
    const mRps = rps.map(median)
    const mP99 = p99.map(median)
    // The cost of a middleware: the median over rounds of its cost against its
    // baseline measured beside it in the same round (paired).
    const pairedCost = (i: number, base: number) =>
      median(rps[i].map((x, r) => ((rps[base][r] - x) / rps[base][r]) * 100))
    const rows = servers.map((s, i) => {
      const base = i % 2 === 0 ? i : i - 1
      return [
        s.label,
        fmtInt(mRps[i]),
        `${mP99[i].toFixed(1)} ms`,
        i === base ? "—" : `${pairedCost(i, base).toFixed(1)}%`,
        i === base ? "—" : `${(mP99[i] - mP99[base]).toFixed(1)} ms`,
        rps[i].map((x) => fmtInt(x)).join(" / ")
      ]
    })
    const costPct = pairedCost(1, 0)
    const addedP99 = mP99[1] - mP99[0]
    const targets: Array<Target> = [
      {
        name: "HTTP middleware: req/s cost",
        goal: "≤ 5%",
        actual: `${costPct.toFixed(1)}% (fastify's plugin: ${pairedCost(3, 2).toFixed(1)}%)`,
        met: costPct <= 5
      },
      { name: "HTTP middleware: added p99", goal: "≤ 1 ms", actual: `${addedP99.toFixed(1)} ms`, met: addedP99 <= 1 }
    ]
    return {
      title: TITLE,
      tables: [{
        columns: ["server", "req/s (median)", "p99 latency", "req/s cost", "added p99", "req/s per round"],
        rows
      }],
      notes: [
        `autocannon, ${CONNECTIONS} connections, ${rounds} round(s) of ${seconds} s per server after a warm-up, servers interleaved; GET /hello → "hello".`,
        "req/s cost = the median over rounds of (baseline − with middleware) / baseline, both measured back to back in the same round (their order flipped every other round).",
        "Each server is a child process (the same compiled bundle as the suite); autocannon runs in the bench process: on 2 cores, one core each for load and server.",
        "Rate limits are 10⁹/s, so every request is allowed and pays the decision and the rate-limit headers; one client key (127.0.0.1).",
        `Errors, timeouts and non-2xx responses over all runs: ${errors}.`
      ],
      targets
    }
  } finally {
    for (const s of servers) s.child.kill("SIGTERM")
  }
}
