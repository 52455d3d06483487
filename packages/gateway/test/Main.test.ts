/**
 * `pnpm start`'s process as a newcomer meets it: a port already in use gives
 * one line naming EADDRINUSE, the port and `PORT=`, and exit 1; Ctrl-C (SIGINT,
 * once or as pnpm forwards it, twice) shuts down gracefully and exits 0 with
 * no error line. Real processes (`node --import tsx src/main.ts`, as
 * `pnpm start` runs it); every wait has seconds of margin.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { type GatewayProcess, listening, spawnGateway, until } from "./utils/gatewayProcess.js"

const gatewayDir = fileURLToPath(new URL("..", import.meta.url))

// `pnpm start` itself (the package script that sets the heap cap), with `env` added to this process's environment
const pnpmStart = (env: Record<string, string>) =>
  new Promise<{ readonly code: number | null; readonly stderr: string }>((resolve, reject) => {
    const child = spawn("pnpm", ["start"], { cwd: gatewayDir, env: { ...process.env, ...env, PORT: "0" } })
    let stderr = ""
    child.stderr.on("data", (chunk) => stderr += String(chunk))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, stderr }))
  })

describe("pnpm start (the gateway's process)", () => {
  it("a GATEWAY_HEAP_MB that is not a whole number of megabytes: a line naming it and its value, exit 2", async () => {
    for (const value of ["abc", "0", "512MB", "-1"]) {
      const run = await pnpmStart({ GATEWAY_HEAP_MB: value })
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`GATEWAY_HEAP_MB must be a whole number of megabytes (>= 1), got '${value}'`)
    }
  }, 60_000)

  it("a port already in use: one line naming EADDRINUSE, the port and PORT=, no stack trace, exit 1", async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const port = (holder.address() as net.AddressInfo).port
    const run = spawnGateway({ PORT: String(port) })
    try {
      expect(await run.exited).toBe(1)
      const lines = run.stderr().trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("EADDRINUSE")
      expect(lines[0]).toContain(`port ${port}`)
      expect(lines[0]).toMatch(/PORT=\d+ pnpm start/)
      expect(run.stderr()).not.toMatch(/\n\s+at /)
      expect(run.stdout()).not.toContain("ServeError")
    } finally {
      await run.stop()
      holder.close()
    }
  }, 60_000)

  it(
    "Ctrl-C (SIGINT, once or twice as pnpm forwards it) shuts down gracefully and exits 0, no error line",
    async () => {
      for (const signals of [1, 2]) {
        const run: GatewayProcess = spawnGateway({ PORT: "0" })
        try {
          await until("the gateway to listen", () => listening(run) !== undefined)
          const url = listening(run)!
          expect((await fetch(url + "/health", { signal: AbortSignal.timeout(20_000) })).status).toBe(200)
          for (let i = 0; i < signals; i++) run.child.kill("SIGINT")
          expect(await run.exited).toBe(0)
          expect(run.stdout()).toContain("shutting down")
          expect(run.stderr()).toBe("")
          expect(run.stdout()).not.toMatch(/ERROR|Interrupted|\n\s+at /)
        } finally {
          await run.stop()
        }
      }
    },
    120_000
  )
})
