/**
 * A/B runner for the HTTP middleware alone (not part of `pnpm bench`): the
 * servers of `http-server.ts` in child processes, autocannon in this one,
 * many short interleaved rounds, medians, and the server's CPU time per
 * request (`/proc/<pid>/stat`), which a loaded machine disturbs far less than
 * req/s.
 *
 *   node scripts/bench/dist/http-ab.mjs [--rounds N] [--seconds S] [--variants effect,effect-ratelimit]
 *   (after `tsx scripts/bench/build.ts`; or `node --import tsx scripts/bench/http-ab.ts …` on the sources)
 */
import autocannon from "autocannon"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { freePort, median, repoRoot, scriptArgs } from "./harness.js"

const argv = process.argv.slice(2)
const opt = (name: string) => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const rounds = Number(opt("--rounds") ?? 9)
const seconds = Number(opt("--seconds") ?? 3)
const variants = (opt("--variants") ?? "effect,effect-ratelimit").split(",")
const serverFile = opt("--server")
const nodeFlags = (opt("--node-flags") ?? "").split(" ").filter((x) => x.length > 0)

const cpuMillis = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const start = async (variant: string): Promise<{ port: number; child: ChildProcess }> => {
  const port = await freePort()
  const file = serverFile !== undefined
    ? serverFile
    : nodeFlags.some((f) => f.startsWith("--cpu-prof"))
    ? "http-prof-server.ts"
    : "http-server.ts"
  const child = spawn(process.execPath, [...nodeFlags, ...scriptArgs(file), variant, String(port)], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("listening") && resolve())
    child.once("exit", (code) => reject(new Error(`${variant} exited ${code}`)))
  })
  return { port, child }
}

const main = async () => {
  const servers = []
  for (const v of variants) servers.push(await start(v))
  const load = (port: number, duration: number) =>
    autocannon({ url: `http://127.0.0.1:${port}/hello`, connections: 50, duration })
  for (const s of servers) await load(s.port, 3)
  const rps: Array<Array<number>> = servers.map(() => [])
  const p99: Array<Array<number>> = servers.map(() => [])
  const cpu: Array<Array<number>> = servers.map(() => [])
  let errors = 0
  for (let r = 0; r < rounds; r++) {
    // alternate the order so neither variant always runs first
    const order = r % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i)
    for (const i of order) {
      const c0 = cpuMillis(servers[i].child.pid!)
      const result = await load(servers[i].port, seconds)
      const c1 = cpuMillis(servers[i].child.pid!)
      errors += result.errors + result.timeouts + result.non2xx
      rps[i].push(result.requests.average)
      p99[i].push(result.latency.p99)
      cpu[i].push(((c1 - c0) * 1000) / result.requests.total)
    }
  }
  console.log(
    `${rounds} rounds × ${seconds} s, 50 connections, load ${
      loadavg().map((x) => x.toFixed(1)).join("/")
    }, errors ${errors}`
  )
  for (let i = 0; i < servers.length; i++) {
    const sorted = [...rps[i]].sort((a, b) => a - b)
    console.log(
      `${variants[i].padEnd(18)} ${Math.round(median(rps[i]))} req/s (range ${Math.round(sorted[0])}–${
        Math.round(sorted[sorted.length - 1])
      })  ` +
        `p99 ${median(p99[i]).toFixed(1)} ms  server CPU ${median(cpu[i]).toFixed(1)} µs/req`
    )
  }
  if (servers.length >= 2) {
    const ratios = rps[0].map((x, r) => (1 - rps[1][r] / x) * 100).sort((a, b) => a - b)
    const cpuRatios = cpu[0].map((x, r) => (cpu[1][r] / x - 1) * 100).sort((a, b) => a - b)
    console.log(
      `req/s cost per round (paired): median ${median(ratios).toFixed(1)}%, range ${ratios[0].toFixed(1)}…${
        ratios[ratios.length - 1].toFixed(1)
      }%`
    )
    console.log(
      `server CPU per request added (paired): median ${median(cpuRatios).toFixed(1)}%, range ${
        cpuRatios[0].toFixed(1)
      }…${cpuRatios[cpuRatios.length - 1].toFixed(1)}%`
    )
    console.log(`added p99 (medians): ${(median(p99[1]) - median(p99[0])).toFixed(1)} ms`)
  }
  for (const s of servers) s.child.kill("SIGTERM")
  await new Promise((r) => setTimeout(r, 1_000))
}

main().then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
