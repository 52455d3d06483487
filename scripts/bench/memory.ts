/**
 * Section 5: retained heap of 1,000,000 limiter keys and of idle breakers,
 * each measurement in a fresh `node --expose-gc` process (memory-child.ts),
 * so nothing else in the suite is on the heap.
 */
import type { SectionResult, Settings, Target } from "./harness.js"
import { errorText, fmtBytes, lastJson, log, runTs, skipped } from "./harness.js"

const TITLE = "5. Memory (retained heap, isolated processes)"

interface ChildOutput {
  readonly bytes: number
  readonly count: number
  readonly keys?: number
}

const measureChild = async (subject: string, count: number): Promise<ChildOutput | string> => {
  const result = await runTs("memory-child.ts", [subject, String(count)], ["--expose-gc"], 300_000)
  const parsed = lastJson<ChildOutput>(result.stdout)
  if (result.code !== 0 || parsed === undefined) {
    return `exit ${result.code}: ${result.stderr.trim().split("\n").slice(-1)[0] ?? ""}`
  }
  return parsed
}

export const run = async (settings: Settings): Promise<SectionResult> => {
  const keys = settings.quick ? 50_000 : 1_000_000
  const breakers = settings.quick ? 1_000 : 10_000
  const subjects: Array<[string, string, number, "key" | "breaker"]> = [
    ["ours-limiter", "ours: RateLimiter + memory store", keys, "key"],
    ["rlf-limiter", "rate-limiter-flexible: RateLimiterMemory", keys, "key"],
    ["experimental-limiter", "@effect/experimental: memory store (token-bucket)", keys, "key"],
    ["ours-breaker", "ours: CircuitBreaker.make (idle)", breakers, "breaker"],
    ["ours-breaker-used", "ours: CircuitBreaker after one call", breakers, "breaker"],
    ["cockatiel-breaker", "cockatiel: circuitBreaker(ConsecutiveBreaker)", breakers, "breaker"],
    ["opossum-breaker", "opossum: CircuitBreaker", breakers, "breaker"]
  ]
  const rows: Array<Array<string>> = []
  const results = new Map<string, ChildOutput>()
  for (const [subject, label, count, unit] of subjects) {
    log(`memory: ${subject} × ${count}`)
    let out: ChildOutput | string
    try {
      out = await measureChild(subject, count)
    } catch (error) {
      out = errorText(error)
    }
    if (typeof out === "string") {
      rows.push([label, count.toLocaleString("en-US"), `skipped: ${out}`, "", ""])
      continue
    }
    results.set(subject, out)
    const per = out.bytes / out.count
    rows.push([
      label,
      out.count.toLocaleString("en-US"),
      fmtBytes(out.bytes),
      `${Math.round(per)} B per ${unit}`,
      unit === "key" ? fmtBytes(per * 1_000_000) : fmtBytes(per * 10_000)
    ])
  }
  if (results.size === 0) return skipped(TITLE, "no measurement ran")
  const limiter = results.get("ours-limiter")
  const breaker = results.get("ours-breaker")
  const targets: Array<Target> = []
  if (limiter !== undefined) {
    const per1M = (limiter.bytes / limiter.count) * 1_000_000
    targets.push({
      name: "1,000,000 limiter keys",
      goal: "≤ 150 MB",
      actual: `${fmtBytes(per1M)}${limiter.count === 1_000_000 ? "" : " (extrapolated)"}`,
      met: per1M <= 150 * 1024 * 1024
    })
  }
  if (breaker !== undefined) {
    const per = breaker.bytes / breaker.count
    targets.push({ name: "Idle breaker", goal: "≤ 2 KB", actual: `${(per / 1024).toFixed(1)} KB`, met: per <= 2048 })
  }
  return {
    title: TITLE,
    tables: [{ columns: ["subject", "count", "retained heap", "per item", "scaled (1M keys / 10k breakers)"], rows }],
    notes: [
      "`heapUsed` growth after four forced full GCs, measured in a fresh `node --expose-gc` process per row.",
      "Limiter keys are distinct IPv4-like strings (~16 characters) and the key strings count: they are what a store must hold. " +
      "Ours refills one token per 1,000 s in this test so no key is idle (an idle key is dropped by the store's sweeps). " +
      "rate-limiter-flexible holds a `setTimeout` per key (its 600 s window here).",
      "Breakers: default options, `service/resource` names distinct per breaker, held in an array."
    ],
    targets
  }
}
