/**
 * `pnpm bench`: the performance suite of issue 7, every section side by side
 * with its peers in one run, written to BENCHMARKS.md at the repo root.
 *
 *   pnpm bench                  full suite (~6–8 minutes), writes BENCHMARKS.md
 *   pnpm bench:quick            `--quick`: fewer, shorter rounds (< 1 minute); prints only
 *   pnpm bench --only=1,3       some sections
 *   pnpm bench --quick --write  also write BENCHMARKS.md from a quick run
 *
 * Both scripts first bundle the suite with our packages (build.ts) and run the
 * bundle, so our code runs compiled like the peers' JavaScript does.
 *
 * Each section is loaded and run on its own: a missing peer (no redis-server,
 * a package that fails to load) prints "skipped: why" and the run goes on.
 * Nothing is asserted: the targets are reported as met or missed.
 */
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { markedSections } from "../lib/benchmarksSection.js"
import type { SectionResult, Settings } from "./harness.js"
import { errorText, log, repoRoot, settingsFor, skipped } from "./harness.js"
import { machine, render } from "./report.js"

interface Section {
  readonly id: string
  readonly title: string
  readonly load: () => Promise<{ run: (settings: Settings) => Promise<SectionResult> }>
}

const sections: ReadonlyArray<Section> = [
  { id: "1", title: "1. Success-path overhead per call (one caller)", load: () => import("./overhead.js") },
  { id: "2", title: "2. Rate-limiter decisions per second, in memory", load: () => import("./memoryLimiter.js") },
  { id: "3", title: "3. Redis store decisions per second", load: () => import("./redis.js") },
  { id: "4", title: "4. HTTP: requests per second and p99", load: () => import("./http.js") },
  { id: "5", title: "5. Memory", load: () => import("./memory.js") }
]

const main = async () => {
  const args = process.argv.slice(2)
  const quick = args.includes("--quick")
  const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",")
  const write = !quick || args.includes("--write")
  const settings = settingsFor(quick)
  const started = Date.now()
  const results: Array<SectionResult> = []
  for (const section of sections) {
    if (only !== undefined && !only.includes(section.id)) continue
    const t0 = Date.now()
    let result: SectionResult
    try {
      const mod = await section.load()
      result = await mod.run(settings)
    } catch (error) {
      result = skipped(section.title, `failed: ${errorText(error)}`)
    }
    results.push(result)
    log(
      `${section.title}: ${result.skipped === undefined ? "done" : `skipped: ${result.skipped}`} in ${
        ((Date.now() - t0) / 1000).toFixed(1)
      } s`
    )
    if (result.skipped !== undefined) console.log(`${section.title}: skipped: ${result.skipped}`)
  }
  const elapsed = (Date.now() - started) / 1000
  const markdown = render(results, machine(), { quick, elapsedSeconds: elapsed })
  console.log(markdown)
  if (write) {
    const file = path.join(repoRoot, "BENCHMARKS.md")
    // sections other scripts wrote (`pnpm soak --write`) stay
    const kept = markedSections(file)
    writeFileSync(
      file,
      kept.length === 0 ? markdown : `${markdown.trimEnd()}

${kept.join("\n")}`
    )
    log(`wrote ${file}`)
  }
  log(`total ${elapsed.toFixed(1)} s`)
  // peers (opossum, ioredis) may leave timers or sockets behind: the report is written
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
