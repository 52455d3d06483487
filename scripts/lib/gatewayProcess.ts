/**
 * A real gateway process for the scripts (`pnpm soak`, the dashboard
 * screenshot): `node --import tsx packages/gateway/src/main.ts`, as
 * `pnpm start` runs it, on a free loopback port (PORT=0), its URL read from
 * its start-up banner. Every wait is bounded; `kill` always ends it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

// The repository's root: the nearest directory above with pnpm-workspace.yaml (this file also runs
// bundled from scripts/bench/dist, one level deeper than its source).
const root = ((): string => {
  let dir = import.meta.dirname
  while (!Fs.existsSync(Path.join(dir, "pnpm-workspace.yaml")) && Path.dirname(dir) !== dir) dir = Path.dirname(dir)
  return dir
})()

export interface GatewayProcess {
  readonly url: string
  readonly pid: number
  readonly child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
  /** Resolves with the exit code (or signal) once it has exited. */
  readonly exited: Promise<number | string>
  /** SIGKILL unless it has already exited; resolves once it has. */
  readonly kill: () => Promise<void>
}

const live = new Set<ChildProcess>()
// Whatever happens to the script, no gateway outlives it.
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL")
})

/** Start a gateway with these environment variables (PORT defaults to 0: a free port). */
export const startGateway = async (
  env: Record<string, string> = {},
  startTimeoutMillis = 60_000
): Promise<GatewayProcess> => {
  const child = spawn(process.execPath, ["--max-old-space-size=768", "--import", "tsx", "src/main.ts"], {
    cwd: Path.join(root, "packages/gateway"),
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  live.add(child)
  let out = ""
  child.stdout!.on("data", (chunk) => (out += chunk))
  child.stderr!.on("data", (chunk) => (out += chunk))
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      live.delete(child)
      resolve(code ?? signal ?? "unknown")
    })
  )
  let gone = false
  void exited.then(() => (gone = true))
  const kill = async () => {
    if (!gone) child.kill("SIGKILL")
    await exited
  }
  const deadline = Date.now() + startTimeoutMillis
  let url: string | undefined
  while (url === undefined) {
    url = /gateway {2}(http:\/\/[\d.]+:\d+)/.exec(out)?.[1]
    if (url !== undefined) break
    if (gone || Date.now() > deadline) {
      await kill()
      throw new Error(`the gateway did not start within ${startTimeoutMillis / 1000} s:\n${out.slice(-2000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, pid: child.pid!, child, output: () => out, exited, kill }
}
