/**
 * `pnpm fleet` in a short run, as a user runs it: a redis-server and three
 * real gateway processes with fleet-wide breakers, then three with their own,
 * the same broker outage on each. Asserts the shape of what it prints and that
 * fewer calls reached the failing broker with the fleet-wide breakers; no
 * timing is asserted (the waits are the script's own, generous ones).
 */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "../../..")

interface Change {
  readonly state: string
  readonly mode: string
  readonly fleetState: string
  readonly failingInstances: ReadonlyArray<string>
}
interface Run {
  readonly mode: string
  readonly brokerCalls: number
  readonly instances: ReadonlyArray<
    { readonly id: string; readonly brokerCalls: number; readonly timeline: ReadonlyArray<Change> }
  >
}

const runFleet = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--import", "tsx", Path.join(root, "scripts/fleet.ts"), ...args],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    // SIGTERM: the script stops its own children before it exits
    const timer = setTimeout(() => child.kill("SIGTERM"), 280_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("pnpm fleet", () => {
  it("prints each instance's timeline and fewer calls to the failing broker with fleet-wide breakers", async () => {
    const { code, stderr, stdout } = await runFleet(["--seconds", "8", "--json"])
    expect(code, stderr + stdout.slice(-3000)).toBe(0)
    expect(stdout).toContain("== fleet-wide breakers ==")
    expect(stdout).toContain("== per-instance breakers ==")
    expect(stdout).toMatch(/fleet-wide breakers +\d+\n/)
    expect(stdout).toMatch(/per-instance breakers +\d+\n/)
    expect(stdout).toMatch(/ratio \(per-instance \/ fleet-wide\) +[\d.]+×/)
    const line = stdout.split("\n").find((l) => l.startsWith("FLEET-RESULT "))
    expect(line).toBeTypeOf("string")
    const result = JSON.parse(line!.slice("FLEET-RESULT ".length)) as { shared: Run; local: Run }
    // what a user would read, for the failure messages
    const printed = stdout.split("\n").filter((l) => !l.startsWith("FLEET-RESULT ")).join("\n")

    for (const run of [result.shared, result.local]) {
      expect(run.instances.map((i) => i.id)).toEqual(["gw-1", "gw-2", "gw-3"])
      expect(run.brokerCalls).toBe(run.instances.reduce((n, i) => n + i.brokerCalls, 0))
      // every instance saw its broker breaker open
      for (const instance of run.instances) {
        expect(instance.timeline.some((c) => c.state === "Open"), `${run.mode} ${instance.id}\n${printed}`).toBe(true)
      }
    }
    // with BREAKER_REDIS_URL every breaker is shared, the fleet is seen open, and who failed is known
    for (const instance of result.shared.instances) {
      expect(
        instance.timeline.some((c) => c.mode === "shared" && c.fleetState === "Open"),
        `${instance.id}\n${printed}`
      )
        .toBe(true)
    }
    const reported = new Set(result.shared.instances.flatMap((i) => i.timeline.flatMap((c) => c.failingInstances)))
    expect([...reported].every((id) => ["gw-1", "gw-2", "gw-3"].includes(id))).toBe(true)
    expect(reported.size, printed).toBeGreaterThan(0)
    // without it, each is its own
    for (const instance of result.local.instances) {
      expect(instance.timeline.every((c) => c.mode === "local" && c.fleetState === "-"), `${instance.id}\n${printed}`)
        .toBe(true)
    }
    expect(result.shared.brokerCalls, printed).toBeLessThan(result.local.brokerCalls)
  }, 300_000)
})
