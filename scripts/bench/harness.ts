/**
 * Shared pieces of the benchmark suite: the run settings (`--quick`), timing
 * (median over interleaved rounds), child processes, and the result model
 * every section returns (rows of cells, notes, or "skipped: why").
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
/** Running the esbuild bundle (scripts/bench/dist, see build.ts) rather than the sources under tsx. */
export const compiled = path.basename(here) === "dist"
export const benchDir = compiled ? path.dirname(here) : here
export const repoRoot = path.resolve(benchDir, "..", "..")

/** Node arguments that run the bench file `file` (its .ts name): its bundle when compiled, else the source through tsx. */
export const scriptArgs = (file: string): Array<string> =>
  compiled
    ? [path.join(benchDir, "dist", file.replace(/\.ts$/, ".mjs"))]
    : ["--import", "tsx", path.join(benchDir, file)]

export interface Settings {
  readonly quick: boolean
  /** Rounds per measurement; each figure is the median over them. */
  readonly rounds: number
  /** Milliseconds one round of one variant should take (calls per round are calibrated to it). */
  readonly roundMillis: number
  /** Warm-up before the first round, in milliseconds per variant. */
  readonly warmupMillis: number
}

export const settingsFor = (quick: boolean): Settings =>
  quick
    ? { quick, rounds: 3, roundMillis: 25, warmupMillis: 30 }
    : { quick, rounds: 11, roundMillis: 150, warmupMillis: 300 }

export interface Table {
  readonly title?: string | undefined
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

export interface SectionResult {
  readonly title: string
  readonly tables: ReadonlyArray<Table>
  readonly notes: ReadonlyArray<string>
  /** Target checks: a line per target, met or missed (never asserted). */
  readonly targets: ReadonlyArray<Target>
  readonly skipped?: string | undefined
}

export interface Target {
  readonly name: string
  readonly goal: string
  readonly actual: string
  readonly met: boolean | undefined
}

export const skipped = (title: string, why: string): SectionResult => ({
  title,
  tables: [],
  notes: [],
  targets: [],
  skipped: why
})

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6

/** A variant measured in rounds: `run(n)` performs n operations and resolves when they are done. */
export interface Variant {
  readonly label: string
  readonly run: (n: number) => Promise<void> | void
  /** Cap on operations per round (slow variants). */
  readonly maxOps?: number | undefined
}

export interface Measured {
  readonly label: string
  /** Median nanoseconds per operation over the rounds. */
  readonly nsPerOp: number
  readonly samples: ReadonlyArray<number>
  readonly opsPerRound: number
}

const timeRun = async (variant: Variant, n: number): Promise<number> => {
  const start = now()
  await variant.run(n)
  return now() - start
}

/** Calls per round so one round takes about `millis` (at least 100 calls). */
const calibrate = async (variant: Variant, millis: number): Promise<number> => {
  let n = 100
  for (;;) {
    const took = await timeRun(variant, n)
    if (took >= millis / 4 || n >= (variant.maxOps ?? 1e8)) {
      const perOp = took / n
      return Math.max(100, Math.min(variant.maxOps ?? 1e8, Math.round(millis / Math.max(perOp, 1e-6))))
    }
    n *= 4
  }
}

/**
 * Measures each variant's time per operation: warm-up and calibration first,
 * then `rounds` rounds in which every variant runs once, in turn (so noise from
 * the shared machine spreads over all of them rather than hitting one).
 */
export const measure = async (
  settings: Settings,
  variants: ReadonlyArray<Variant>
): Promise<Array<Measured>> => {
  const sizes: Array<number> = []
  for (const v of variants) {
    const n = await calibrate(v, settings.warmupMillis)
    await timeRun(v, n) // warm-up at the calibrated size
    sizes.push(await calibrate(v, settings.roundMillis))
  }
  const samples: Array<Array<number>> = variants.map(() => [])
  for (let r = 0; r < settings.rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const took = await timeRun(variants[i], sizes[i])
      samples[i].push((took * 1e6) / sizes[i])
    }
  }
  return variants.map((v, i) => ({
    label: v.label,
    nsPerOp: median(samples[i]),
    samples: samples[i],
    opsPerRound: sizes[i]
  }))
}

/** Spread of a sample as (max - min) / median, in percent: a rough noise figure. */
export const spread = (xs: ReadonlyArray<number>): number => {
  const m = median(xs)
  return m === 0 ? 0 : ((Math.max(...xs) - Math.min(...xs)) / m) * 100
}

export const fmtNs = (ns: number): string =>
  !Number.isFinite(ns) ? "n/a" : Math.abs(ns) >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`

export const fmtInt = (x: number): string => !Number.isFinite(x) ? "n/a" : Math.round(x).toLocaleString("en-US")

export const fmtRatio = (x: number): string =>
  !Number.isFinite(x) ? "n/a" : x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`

export const fmtBytes = (b: number): string =>
  !Number.isFinite(b) ? "n/a" : b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : `${Math.round(b)} B`

/** Resolves a free TCP port on loopback. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface ChildResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a bench file of this directory in a fresh Node process (see `scriptArgs`), extra Node flags first. */
export const runTs = (
  file: string,
  args: ReadonlyArray<string>,
  nodeFlags: ReadonlyArray<string> = [],
  timeoutMillis = 120_000
): Promise<ChildResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeFlags, ...scriptArgs(file), ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: stderr + String(error) })
    })
  })

/** The last line of a child's stdout that parses as JSON. */
export const lastJson = <T>(stdout: string): T | undefined => {
  const lines = stdout.trim().split("\n").reverse()
  for (const line of lines) {
    try {
      return JSON.parse(line) as T
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined
}

export const errorText = (error: unknown): string =>
  error instanceof Error ? error.message.split("\n")[0] : String(error).split("\n")[0]

export const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`)
}

/** `run(n)` for n calls of `body()` in one fiber: the loop every Effect variant of the suite uses. */
export const effectLoop = <R>(
  run: (effect: Effect.Effect<void, unknown, R>) => Promise<void>,
  body: () => Effect.Effect<unknown, unknown, R>
) =>
(n: number): Promise<void> => {
  let i = 0
  return run(Effect.whileLoop({ while: () => i < n, body, step: () => void i++ }))
}

/** `run(n)` for n sequential awaits of `body()`: the loop of every Promise peer. */
export const promiseLoop = (body: () => Promise<unknown>) => async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await body()
}

/** CPU time (user + system, this process) that `run()` takes, in nanoseconds: less disturbed by other processes than wall time. */
export const cpuNanos = async (run: () => Promise<void> | void): Promise<number> => {
  const start = process.cpuUsage()
  await run()
  const used = process.cpuUsage(start)
  return (used.user + used.system) * 1000
}
