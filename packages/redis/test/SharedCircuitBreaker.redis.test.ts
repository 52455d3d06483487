/**
 * The fleet-wide breaker on a real redis-server: three instances, each with
 * its own store and connections, one of them in a separate process. Waits are
 * generous (seconds): these tests assert what the fleet ends up doing, never
 * how fast (the propagation latency is the benchmark's).
 */
import { describe, expect, it } from "vitest"
import {
  type BurstReply,
  type CallsReply,
  type Handler,
  type InstanceOptions,
  spawnInstance,
  startInProcess,
  type StateReply
} from "./support/fleetInstance.js"
import { type RedisServer, startRedis } from "./support/redisServer.js"

interface Instance {
  readonly send: Handler
  readonly close: () => Promise<void>
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls until `check` holds, for up to 20 s (a busy machine: the fleet converges in well under a second). */
const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

let counter = 0

/** A redis-server of the test's own and three instances (A, B here; C in a child process). */
const fleet = async (options: Partial<InstanceOptions> = {}) => {
  const redis: RedisServer = await startRedis()
  const base: Omit<InstanceOptions, "instanceId"> = {
    redisUrl: redis.url,
    resource: `broker-${process.pid}-${counter++}`,
    quorum: 2,
    resetTimeoutMillis: 60_000,
    halfOpenMaxProbes: 2,
    // seconds: a slow reply on a busy machine must not send an instance to its local fallback
    storeTimeoutMillis: 2_000,
    ...options
  }
  const instances: Array<Instance> = []
  const close = async () => {
    await Promise.all(instances.map((instance) => instance.close()))
    await redis.stop()
  }
  try {
    instances.push(await startInProcess({ ...base, instanceId: "A" }))
    instances.push(await startInProcess({ ...base, instanceId: "B" }))
    instances.push(await spawnInstance({ ...base, instanceId: "C" }))
  } catch (error) {
    await close()
    throw error
  }
  const [a, b, c] = instances
  const calls = (instance: Instance, outcome: "fail" | "succeed", n: number) =>
    instance.send({ op: "calls", outcome, n }) as Promise<CallsReply>
  const state = (instance: Instance) => instance.send({ op: "state" }) as Promise<StateReply>
  return { redis, a: a!, b: b!, c: c!, all: [a!, b!, c!], calls, state, close }
}

describe("SharedCircuitBreaker on Redis, three instances (one in its own process)", () => {
  it("failures on two instances open the breaker on all three, pushed", async () => {
    const f = await fleet()
    try {
      // three failures each: each opens its local breaker; two instances failing meet the quorum
      expect((await f.calls(f.a, "fail", 3)).ran).toBe(3)
      expect((await f.calls(f.b, "fail", 3)).ran).toBe(3)
      await until("every instance to see the fleet Open", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.fleetState === "Open" && s.state === "Open")
      })
      // C never failed, yet it rejects: its call never reaches the broker
      const c = await f.calls(f.c, "succeed", 5)
      expect(c).toMatchObject({ ran: 0, rejected: 5 })
      const failing = (await f.state(f.c)).failingInstances
      expect([...failing].sort()).toEqual(["A", "B"])
    } finally {
      await f.close()
    }
  })

  it("with the quorum, a single failing instance opens only itself", async () => {
    const f = await fleet()
    try {
      expect((await f.calls(f.a, "fail", 10)).ran).toBe(3)
      // A's reports reached the fleet: the fleet counts A as failing, and stays Closed
      await until("A's failures to be in the fleet's window", async () => {
        const s = await f.state(f.b)
        return s.failingInstances.includes("A")
      })
      expect(await f.state(f.a)).toMatchObject({ state: "Open", fleetState: "Closed" })
      for (const other of [f.b, f.c]) {
        expect(await f.state(other)).toMatchObject({ state: "Closed", fleetState: "Closed" })
        expect(await f.calls(other, "succeed", 5)).toMatchObject({ ran: 5, rejected: 0 })
      }
    } finally {
      await f.close()
    }
  })

  it("1,000 concurrent callers on each of three instances in half-open: exactly N probes fleet-wide, then closed for all", async () => {
    const probes = 2
    const f = await fleet({ resetTimeoutMillis: 500, halfOpenMaxProbes: probes })
    try {
      await f.calls(f.a, "fail", 3)
      await f.calls(f.b, "fail", 3)
      await until("every instance to see the fleet Open", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.fleetState === "Open")
      })
      // the fleet's Open period (500 ms on Redis's clock) is over well before this
      await sleep(1_500)
      const bursts = (await Promise.all(f.all.map((i) => i.send({ op: "burst", callers: 1_000 })))) as Array<
        BurstReply
      >
      const admitted = bursts.reduce((sum, burst) => sum + burst.admitted, 0)
      expect(admitted).toBe(probes)
      for (const burst of bursts) {
        expect(burst.admitted + burst.rejected).toBe(1_000)
        expect(burst.circuitOpen).toBe(burst.rejected)
      }
      // the probes succeed: the fleet closes for everyone
      await Promise.all(f.all.map((i) => i.send({ op: "release" })))
      await until("every instance to see the fleet Closed", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.fleetState === "Closed")
      })
      expect(await f.calls(f.c, "succeed", 3)).toMatchObject({ ran: 3, rejected: 0 })
    } finally {
      await f.close()
    }
  })

  it("Redis killed mid-run: every instance goes on with its local breaker, no call waits past the budget; restarted: shared again", async () => {
    const f = await fleet({ storeTimeoutMillis: 250 })
    try {
      await Promise.all(f.all.map((i) => f.calls(i, "succeed", 20)))
      await f.redis.kill()
      // successes still succeed, and A's failures open A's local breaker: nothing waits on the dead Redis
      for (const instance of f.all) {
        const reply = await f.calls(instance, "succeed", 50)
        expect(reply).toMatchObject({ ran: 50, rejected: 0 })
        // a budget of 250 ms; seconds of margin for a busy machine, none for a hang
        expect(reply.maxMillis).toBeLessThan(3_000)
      }
      const failing = await f.calls(f.a, "fail", 5)
      expect(failing).toMatchObject({ ran: 3, rejected: 2 })
      expect(failing.maxMillis).toBeLessThan(3_000)
      await until("every instance to fall back to its local breaker", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.mode === "local-fallback")
      })
      expect((await f.state(f.a)).state).toBe("Open")
      expect((await f.state(f.b)).state).toBe("Closed")

      await f.redis.restart()
      await until("every instance to use the shared state again", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.mode === "shared")
      })
      // the restarted Redis is empty; failures on two instances open the fleet again, on all three
      await f.calls(f.b, "fail", 3)
      await f.calls(f.c, "fail", 3)
      await until("every instance to see the fleet Open after the restart", async () => {
        const states = await Promise.all(f.all.map(f.state))
        return states.every((s) => s.fleetState === "Open")
      })
    } finally {
      await f.close()
    }
  })
})
