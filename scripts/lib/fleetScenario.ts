/**
 * One broker outage seen by a fleet of real gateway processes on loopback,
 * run with fleet-wide breakers (`BREAKER_REDIS_URL` on a redis-server of its
 * own) or with each gateway's own breakers: the driver behind `pnpm fleet`
 * and the fleet bench.
 *
 * Every gateway simulates the same broker (its own simulated broker stands in
 * for the one real broker a fleet would share), so the outage is switched on
 * every instance at the same moment (`POST /admin/faults`). Traffic is broker
 * reads (`GET /account`, `GET /positions`, breaker `simulated/broker_api`)
 * from a few clients per instance, each pausing between its requests (a
 * fleet's instances each see a share of the traffic: the fleet trips on the
 * sum of their failures, each per-instance breaker on its own share). What counts is the calls that reached the
 * failing broker: each gateway's `resilience_fault_injections_total` for the
 * simulated outage (`service="simulated-outage"`, `reason="failure"`), read
 * from its `/metrics` before the outage and after the run, summed over the
 * fleet. Each instance's breaker is sampled from `/resilience/status` every
 * 200 ms: the timeline is its state changes (local state, the fleet's state
 * and mode, the instances that reported failures).
 *
 * Bounded: the outage lasts `seconds`, every request has a client timeout,
 * and every process started here is stopped before `run` returns (or killed
 * when the script exits, whatever happens).
 */
import { type RedisServer, startRedis } from "../../packages/redis/test/support/redisServer.js"
import { type GatewayProcess, startGateway } from "./gatewayProcess.js"

export type Mode = "shared" | "local"

export interface Options {
  readonly mode: Mode
  /** Gateway processes. @default 3 */
  readonly instances?: number | undefined
  /** How long the outage and its traffic last. @default 20 */
  readonly seconds?: number | undefined
  /** The simulated providers' reset timeout (`SIM_RESET_TIMEOUT`), seconds. @default 3 */
  readonly resetSeconds?: number | undefined
  /** Concurrent clients per instance. @default 2 */
  readonly clientsPerInstance?: number | undefined
  /** Each client's pause between its requests, milliseconds. @default 300 */
  readonly thinkMillis?: number | undefined
  /** Progress lines. @default nothing */
  readonly log?: ((line: string) => void) | undefined
}

/** One sampled change of an instance's broker breaker. */
export interface Change {
  /** Milliseconds since the outage began. */
  readonly t: number
  readonly state: string
  /** `local`, `shared` or `local-fallback`. */
  readonly mode: string
  /** The fleet's state as this instance sees it (`-` for a local breaker). */
  readonly fleetState: string
  readonly failingInstances: ReadonlyArray<string>
}

export interface InstanceResult {
  readonly id: string
  readonly url: string
  /** Calls that reached the failing broker from this instance. */
  readonly brokerCalls: number
  /** Requests this run sent to this instance, by status (`error`: no answer). */
  readonly responses: Readonly<Record<string, number>>
  readonly timeline: ReadonlyArray<Change>
}

export interface Result {
  readonly mode: Mode
  readonly seconds: number
  readonly instances: ReadonlyArray<InstanceResult>
  /** Calls that reached the failing broker, the fleet's sum. */
  readonly brokerCalls: number
}

export const BREAKER = "simulated/broker_api"
const ADMIN_KEY = "fleet-admin"

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const call = async (url: string, path: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url + path, {
    ...init,
    headers: { "x-api-key": ADMIN_KEY, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    signal: AbortSignal.timeout(10_000)
  })

const admin = async (url: string, method: string, path: string, body?: unknown): Promise<void> => {
  const res = await call(url, path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}${path}: HTTP ${res.status} ${text}`)
}

/** The gateway's count of calls the simulated outage failed (0 before the first). */
export const outageFailures = async (url: string): Promise<number> => {
  const text = await (await call(url, "/metrics")).text()
  let total = 0
  for (const line of text.split("\n")) {
    if (!line.startsWith("resilience_fault_injections_total{")) continue
    if (!line.includes("service=\"simulated-outage\"") || !line.includes("reason=\"failure\"")) continue
    total += Number(line.slice(line.lastIndexOf("}") + 1).trim().split(" ")[0])
  }
  return total
}

interface BreakerJson {
  readonly name: string
  readonly state: string
  readonly fleet?: {
    readonly mode: string
    readonly state: string
    readonly failingInstances: ReadonlyArray<{ readonly instance: string }>
  }
}

/** The broker breaker as `/resilience/status` shows it (undefined before its first call). */
export const brokerBreaker = async (url: string): Promise<BreakerJson | undefined> => {
  const res = await call(url, "/resilience/status")
  if (!res.ok) return undefined
  const body = await res.json() as { readonly breakers: ReadonlyArray<BreakerJson> }
  return body.breakers.find((b) => b.name === BREAKER)
}

/** Start `count` gateways (in parallel) with the fleet's environment. */
export const startFleet = async (
  count: number,
  env: Record<string, string>,
  idPrefix = "gw"
): Promise<ReadonlyArray<GatewayProcess & { readonly id: string }>> => {
  const started = await Promise.allSettled(
    Array.from({ length: count }, async (_, i) => {
      const id = `${idPrefix}-${i + 1}`
      const gateway = await startGateway({
        DEMO_TRAFFIC: "0",
        GATEWAY_INSTANCE_ID: id,
        API_KEYS: ADMIN_KEY,
        // the traffic is the driver's own: no 429 from the gateway's limiter
        RATE_LIMIT_RPS: "10000",
        RATE_LIMIT_BURST: "20000",
        ...env
      }, 120_000)
      return { ...gateway, id }
    })
  )
  const ok = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : [])
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected")
  if (failed !== undefined) {
    await Promise.all(ok.map((g) => g.kill()))
    throw failed.reason
  }
  return ok
}

/** Run the outage once in `options.mode` and stop everything it started. */
export const run = async (options: Options): Promise<Result> => {
  const count = options.instances ?? 3
  const seconds = options.seconds ?? 20
  const clients = options.clientsPerInstance ?? 2
  const think = options.thinkMillis ?? 300
  const log = options.log ?? (() => {})
  let redis: RedisServer | undefined
  let fleet: ReadonlyArray<GatewayProcess & { readonly id: string }> = []
  const killRedis = () => void redis?.kill()
  process.on("exit", killRedis)
  try {
    const env: Record<string, string> = { SIM_RESET_TIMEOUT: `${options.resetSeconds ?? 3} seconds` }
    if (options.mode === "shared") {
      redis = await startRedis()
      env.BREAKER_REDIS_URL = redis.url
      log(`redis-server on ${redis.url}`)
    }
    fleet = await startFleet(count, env)
    log(`${count} gateways (${options.mode} breakers): ${fleet.map((g) => `${g.id} ${g.url}`).join(", ")}`)

    // every instance makes its broker breaker with a first successful call (a busy machine may time the
    // first ones out: a few tries, bounded)
    for (const g of fleet) {
      let status = 0
      for (let attempt = 0; attempt < 10 && status !== 200; attempt++) {
        if (attempt > 0) await sleep(1000)
        const res = await call(g.url, "/account").catch(() => undefined)
        await res?.arrayBuffer()
        status = res?.status ?? 0
      }
      if (status !== 200) throw new Error(`${g.id}: GET /account before the outage answered ${status} ten times`)
    }
    // start from Closed everywhere (a first call that failed may have counted)
    await Promise.all(fleet.map((g) => admin(g.url, "POST", "/admin/breakers/reset")))
    const before = await Promise.all(fleet.map((g) => outageFailures(g.url)))

    const started = Date.now()
    await Promise.all(fleet.map((g) => admin(g.url, "POST", "/admin/faults", { target: "broker", kind: "outage" })))
    log(`outage on the broker of every instance for ${seconds} s`)

    let stopped = false
    const responses = fleet.map(() => ({} as Record<string, number>))
    const client = async (index: number, n: number) => {
      const g = fleet[index]!
      while (!stopped) {
        const path = n++ % 2 === 0 ? "/account" : "/positions"
        let key = "error"
        try {
          const res = await fetch(g.url + path, {
            headers: { "x-api-key": ADMIN_KEY },
            signal: AbortSignal.timeout(15_000)
          })
          await res.arrayBuffer()
          key = String(res.status)
        } catch {
          // counted as "error"
        }
        responses[index]![key] = (responses[index]![key] ?? 0) + 1
        await sleep(think)
      }
    }
    const timelines = fleet.map(() => [] as Array<Change>)
    const sample = async () => {
      await Promise.all(fleet.map(async (g, i) => {
        const b = await brokerBreaker(g.url).catch(() => undefined)
        if (b === undefined) return
        const change: Change = {
          t: Date.now() - started,
          state: b.state,
          mode: b.fleet?.mode ?? "local",
          fleetState: b.fleet?.state ?? "-",
          failingInstances: (b.fleet?.failingInstances ?? []).map((f) => f.instance)
        }
        const previous = timelines[i]!.at(-1)
        if (
          previous === undefined || previous.state !== change.state || previous.mode !== change.mode ||
          previous.fleetState !== change.fleetState ||
          previous.failingInstances.join(",") !== change.failingInstances.join(",")
        ) timelines[i]!.push(change)
      }))
    }
    const workers = fleet.flatMap((_, i) => Array.from({ length: clients }, (_, c) => client(i, c)))
    while (Date.now() - started < seconds * 1000) {
      await sample()
      await sleep(200)
    }
    stopped = true
    await Promise.all(workers)
    await sample()
    const after = await Promise.all(fleet.map((g) => outageFailures(g.url)))
    await Promise.all(fleet.map((g) => admin(g.url, "DELETE", "/admin/faults").catch(() => undefined)))

    const instances = fleet.map((g, i): InstanceResult => ({
      id: g.id,
      url: g.url,
      brokerCalls: after[i]! - before[i]!,
      responses: responses[i]!,
      timeline: timelines[i]!
    }))
    return {
      mode: options.mode,
      seconds,
      instances,
      brokerCalls: instances.reduce((n, i) => n + i.brokerCalls, 0)
    }
  } finally {
    await Promise.all(fleet.map((g) => g.kill()))
    await redis?.kill()
    process.off("exit", killRedis)
  }
}

/** The timeline and counts of one run, as printed by `pnpm fleet`. */
export const describe = (result: Result): ReadonlyArray<string> => {
  const lines: Array<string> = [
    `${result.mode === "shared" ? "fleet-wide breakers (BREAKER_REDIS_URL)" : "per-instance breakers"}: ` +
    `${result.instances.length} gateways, ${result.seconds} s of broker outage`
  ]
  for (const instance of result.instances) {
    const statuses = Object.entries(instance.responses).sort().map(([k, v]) => `${k}×${v}`).join(" ")
    lines.push(`  ${instance.id}  broker calls ${instance.brokerCalls}  responses ${statuses}`)
    for (const c of instance.timeline) {
      lines.push(
        `    +${(c.t / 1000).toFixed(1).padStart(5)} s  ${c.state.padEnd(8)} mode ${c.mode.padEnd(14)} fleet ${
          c.fleetState.padEnd(8)
        } failing [${c.failingInstances.join(", ")}]`
      )
    }
  }
  lines.push(`  calls that reached the failing broker: ${result.brokerCalls}`)
  return lines
}
