/**
 * Test harness: the gateway as a real process (`node --import tsx
 * src/main.ts`, as `pnpm start` runs it), for what only a process shows: its
 * exit code and output, signals, its memory. Every wait has seconds of margin;
 * `stop` always ends it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const gatewayDir = Path.resolve(import.meta.dirname, "../..")

export interface GatewayProcess {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** The exit code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals>
  /** SIGKILL unless it has exited; resolves once it has. */
  readonly stop: () => Promise<void>
}

const live = new Set<ChildProcess>()
// A test that times out leaves its `finally` unrun until later, and the
// worker may exit first: no gateway outlives the test process.
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL")
})

/** Stop every gateway still running (for an `afterEach`). */
export const stopAll = async (): Promise<void> => {
  await Promise.all([...live].map((child) => {
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGKILL")
    return exited
  }))
}

/** Start the gateway with these environment variables (no demo traffic unless asked). */
export const spawnGateway = (env: Record<string, string>): GatewayProcess => {
  const child = spawn(process.execPath, ["--max-old-space-size=768", "--import", "tsx", "src/main.ts"], {
    cwd: gatewayDir,
    env: { ...process.env, DEMO_TRAFFIC: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  live.add(child)
  child.once("exit", () => live.delete(child))
  let out = ""
  let err = ""
  child.stdout!.on("data", (chunk) => (out += chunk))
  child.stderr!.on("data", (chunk) => (err += chunk))
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1))
  )
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await exited
  }
  return { child, exited, stderr: () => err, stdout: () => out, stop }
}

/** Until `check` holds (polled every 50 ms), or fail after `millis`. */
export const until = async (what: string, check: () => boolean, millis = 60_000): Promise<void> => {
  const deadline = Date.now() + millis
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${millis / 1000} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The URL from the start-up banner, once it is printed. */
export const listening = (gateway: GatewayProcess): string | undefined =>
  /gateway {2}(http:\/\/[\d.]+:\d+)/.exec(gateway.stdout())?.[1]

/** Start a gateway on a free loopback port and wait until it listens; returns it with its URL. */
export const startGatewayProcess = async (
  env: Record<string, string> = {}
): Promise<GatewayProcess & { readonly url: string }> => {
  const gateway = spawnGateway({ PORT: "0", HOST: "127.0.0.1", ...env })
  try {
    await until("the gateway to listen", () => listening(gateway) !== undefined || gateway.child.exitCode !== null)
  } catch (error) {
    await gateway.stop()
    throw error
  }
  const url = listening(gateway)
  if (url === undefined) throw new Error(`the gateway exited before listening:\n${gateway.stderr()}`)
  return { ...gateway, url }
}

/** The process's resident set in MB (Linux /proc). */
export const rssMb = (pid: number): number => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
}
