/**
 * `pnpm fleet [--seconds 20] [--instances 3] [--reset 3] [--json]`: the same
 * broker outage against a fleet of real gateway processes twice, first with
 * fleet-wide breakers (a redis-server of its own on a free loopback port,
 * `BREAKER_REDIS_URL`), then with each gateway's own breakers; prints each
 * instance's breaker timeline, the calls that reached the failing broker in
 * each run, and their ratio (see `lib/fleetScenario.ts` for what is counted).
 *
 * Bounded: each run's outage lasts `--seconds`; every process it starts
 * (gateways, redis-server) is stopped when a run ends and killed if the script
 * exits early (Ctrl-C, an error, the 10-minute watchdog). `--json` adds one
 * last line, `FLEET-RESULT {...}`, for scripts and the test.
 */
import * as Scenario from "./lib/fleetScenario.js"

const argv = process.argv.slice(2)
const option = (name: string, fallback: number, min: number, max: number): number => {
  const i = argv.indexOf(name)
  const value = i === -1 ? fallback : Number(argv[i + 1])
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`${name} needs a number between ${min} and ${max}`)
    process.exit(2)
  }
  return value
}
const seconds = option("--seconds", 20, 2, 300)
const instances = option("--instances", 3, 2, 8)
const resetSeconds = option("--reset", 3, 0.5, 60)
const json = argv.includes("--json")

// Ctrl-C / kill: exit, so that the exit handlers kill every child (lib/gatewayProcess.ts, lib/fleetScenario.ts).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    console.error(`fleet: ${signal}: stopping every process`)
    process.exit(130)
  })
}
setTimeout(() => {
  console.error("fleet: watchdog: still running after 10 minutes, stopping")
  process.exit(2)
}, 10 * 60_000).unref()

const main = async () => {
  const log = (line: string) => console.log(`  · ${line}`)
  const results: Array<Scenario.Result> = []
  for (const mode of ["shared", "local"] as const) {
    console.log(`\n== ${mode === "shared" ? "fleet-wide breakers" : "per-instance breakers"} ==`)
    const result = await Scenario.run({ mode, instances, seconds, resetSeconds, log })
    for (const line of Scenario.describe(result)) console.log(line)
    results.push(result)
  }
  const [shared, local] = results as [Scenario.Result, Scenario.Result]
  const ratio = shared.brokerCalls === 0 ? Infinity : local.brokerCalls / shared.brokerCalls
  console.log("\n== calls that reached the failing broker ==")
  console.log(`  fleet-wide breakers    ${shared.brokerCalls}`)
  console.log(`  per-instance breakers  ${local.brokerCalls}`)
  console.log(`  ratio (per-instance / fleet-wide)  ${Number.isFinite(ratio) ? ratio.toFixed(2) : "∞"}×`)
  if (json) {
    console.log(`FLEET-RESULT ${JSON.stringify({ shared, local, ratio: Number.isFinite(ratio) ? ratio : null })}`)
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error("fleet:", error instanceof Error ? error.message : error)
    process.exit(1)
  }
)
