/**
 * `pnpm bench:fleet [--quick] [--write]`: the fleet-wide circuit breaker
 * (issue 17), on its own (it starts redis-servers and gateway processes):
 *
 * 1. success-path cost: `execute` of a Closed breaker on a succeeding effect,
 *    the shared breaker (on a real redis-server) beside the local breaker, in
 *    one run (interleaved rounds), and the ns the shared one adds per call;
 * 2. propagation: a trip on one instance until another instance (its own
 *    Redis connections) sees Open, p50 / p99 over N trips;
 * 3. the `pnpm fleet` scenario: calls that reached the failing broker with
 *    fleet-wide vs per-instance breakers (three gateway processes each).
 *
 * Prints the Markdown section; `--write` also puts it in BENCHMARKS.md as
 * its marked section `fleet-breaker`, which `pnpm bench` keeps. Never a test.
 */
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { withSection } from "../lib/benchmarksSection.js"
import * as Scenario from "../lib/fleetScenario.js"
import * as SharedCost from "./fleetShared.js"
import type { SectionResult, Settings, Table } from "./harness.js"
import { errorText, fmtRatio, log, repoRoot, settingsFor } from "./harness.js"
import { machine, table } from "./report.js"

const TITLE = "Fleet-wide circuit breaker (issue 17)"

const scenario = async (settings: Settings): Promise<{ readonly table: Table; readonly notes: Array<string> }> => {
  const seconds = settings.quick ? 8 : 20
  const results: Array<Scenario.Result> = []
  for (const mode of ["shared", "local"] as const) {
    log(`fleet scenario: ${mode} breakers, ${seconds} s of outage`)
    results.push(await Scenario.run({ mode, instances: 3, seconds, resetSeconds: 3, log }))
  }
  const [shared, local] = results as [Scenario.Result, Scenario.Result]
  const perInstance = (r: Scenario.Result) => r.instances.map((i) => i.brokerCalls).join(" / ")
  return {
    table: {
      title: `Calls that reached the failing broker: 3 gateway processes, ${seconds} s of broker outage`,
      columns: ["breakers", "calls to the failing broker", "per instance", "ratio"],
      rows: [
        ["fleet-wide (`BREAKER_REDIS_URL`)", String(shared.brokerCalls), perInstance(shared), "1×"],
        [
          "per instance",
          String(local.brokerCalls),
          perInstance(local),
          shared.brokerCalls === 0 ? "n/a" : fmtRatio(local.brokerCalls / shared.brokerCalls)
        ]
      ]
    },
    notes: [
      `\`pnpm fleet --seconds ${seconds}\`'s scenario: 2 clients per gateway reading the broker (\`GET /account\`, ` +
      "`/positions`), each pausing 300 ms between requests, `SIM_RESET_TIMEOUT=3 seconds`, `BREAKER_QUORUM=2`; " +
      "calls counted by each gateway's " +
      "`resilience_fault_injections_total{service=\"simulated-outage\",reason=\"failure\"}`. The trip saves only " +
      "what fails after the fleet's Open is pushed (the gateways' first concurrent calls fail before any report " +
      "arrives, and each gateway's own breaker trips on its own 5 failures); the probes are where most of the saving is (one per reset " +
      "fleet-wide, against one per gateway), so the ratio grows with the outage."
    ]
  }
}

export const run = async (settings: Settings): Promise<SectionResult> => {
  const tables: Array<Table> = []
  const notes: Array<string> = []
  for (
    const part of [
      () => SharedCost.successPath(settings),
      () => SharedCost.propagation(settings),
      () => scenario(settings)
    ]
  ) {
    try {
      const r = await part()
      tables.push(r.table)
      notes.push(...r.notes)
    } catch (error) {
      notes.push(`skipped a part: ${errorText(error)}`)
    }
  }
  return { title: TITLE, tables, notes, targets: [] }
}

const main = async () => {
  const args = process.argv.slice(2)
  const quick = args.includes("--quick")
  const started = Date.now()
  const result = await run(settingsFor(quick))
  const m = machine()
  const markdown = [
    `## ${TITLE}`,
    "",
    `\`pnpm bench:fleet${
      quick ? " --quick" : ""
    }\` on ${m.cpu} (${m.cores} cores), Node ${m.node}, commit ${m.commit}, ` +
    `${m.date} (${((Date.now() - started) / 1000).toFixed(0)} s; load ${m.load}).`,
    "",
    ...result.tables.flatMap((t) => [table(t), ""]),
    ...result.notes.map((n) => `- ${n}`)
  ].join("\n")
  console.log(markdown)
  if (args.includes("--write")) {
    const file = path.join(repoRoot, "BENCHMARKS.md")
    writeFileSync(file, withSection(file, "fleet-breaker", markdown))
    log(`wrote the fleet-breaker section of ${file}`)
  }
}

if (process.argv[1] !== undefined && /fleet\.(m?js|ts)$/.test(process.argv[1])) {
  main().then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
}
