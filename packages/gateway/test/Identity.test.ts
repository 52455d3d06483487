import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Http from "node:http"
import { startGateway } from "./utils/gateway.js"

// Keep-alive connections (one per concurrent caller and source address): the attack costs requests, not handshakes.
const agents = new Map<string, Http.Agent>()
// Closed before the gateway stops (scope finalizers run last-in first-out).
const closeAgents = Effect.addFinalizer(() =>
  Effect.sync(() => {
    for (const agent of agents.values()) agent.destroy()
    agents.clear()
  })
)
const agentFor = (from: string | undefined) => {
  const name = from ?? ""
  let agent = agents.get(name)
  if (agent === undefined) {
    agent = new Http.Agent({ keepAlive: true, maxSockets: 64, ...(from === undefined ? {} : { localAddress: from }) })
    agents.set(name, agent)
  }
  return agent
}

/** One GET over node:http, from a chosen loopback source address (127.0.0.2, … are distinct client IPs). */
const get = (url: string, path: string, options: { readonly key?: string; readonly from?: string } = {}) =>
  Effect.async<number>((resume) => {
    const target = new URL(path, url)
    const req = Http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      agent: agentFor(options.from),
      headers: options.key === undefined ? {} : { "x-api-key": options.key }
    }, (res) => {
      res.resume()
      res.on("end", () => resume(Effect.succeed(res.statusCode ?? 0)))
      res.on("error", () => resume(Effect.succeed(-1)))
    })
    req.on("error", () => resume(Effect.succeed(-1)))
    req.setTimeout(20_000, () => req.destroy())
    req.end()
  })

// The global bucket is made small (50 a second, burst 100), so that the attack would drain it within a second if it
// were charged to it: 3,000 requests are plenty, on any machine.
const global = { globalTokensPerSecond: 50, globalBurstSize: 100 }
const attackSize = 3_000

/** `attackSize` requests, each with a fresh made-up API key, 50 at a time; the statuses counted. */
const rotatingKeys = (url: string, path: string) =>
  Effect.gen(function*() {
    const counts = new Map<number, number>()
    const started = Date.now()
    yield* Effect.forEach(
      Array.from({ length: attackSize }, (_, i) => i),
      (i) =>
        Effect.map(get(url, path, { key: `rotated-${i}-${Math.random()}` }), (status) => {
          counts.set(status, (counts.get(status) ?? 0) + 1)
        }),
      { concurrency: 50, discard: true }
    )
    return { counts, seconds: (Date.now() - started) / 1000 }
  })

// What one client's bucket (burst 40, 20 a second: the defaults) can admit in `seconds`, with a margin of a second.
const oneBudget = (seconds: number) => 40 + 20 * (seconds + 1)

/** A compliant client: 2 requests a second (its limit is 20) for about 3 seconds; every status. */
const compliant = (url: string, path: string, options: { readonly key?: string; readonly from?: string }) =>
  Effect.gen(function*() {
    const statuses: Array<number> = []
    for (let i = 0; i < 6; i++) {
      statuses.push(yield* get(url, path, options))
      yield* Effect.sleep("500 millis")
    }
    return statuses
  })

describe("client identity that cannot be rotated away", () => {
  it.scopedLive(
    "with API_KEYS: 3,000 rotating unknown keys get 401/429 on their IP's budget, the global bucket holds: a keyed client gets 2xx",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({ rateLimit: { ...global, apiKeys: ["good-client"] } })
        yield* closeAgents
        const attack = yield* Effect.fork(rotatingKeys(url, "/positions"))
        const good = yield* compliant(url, "/positions", { key: "good-client" })
        const { counts, seconds } = yield* Fiber.join(attack)
        expect(good.every((s) => s >= 200 && s < 300), String(good)).toBe(true)
        // the attacker's made-up keys were refused, or limited as one client (its IP): never served
        expect([...counts.keys()].every((s) => s === 401 || s === 429), JSON.stringify([...counts])).toBe(true)
        expect(counts.get(401) ?? 0).toBeLessThanOrEqual(oneBudget(seconds))
      }),
    300_000
  )

  it.scopedLive(
    "without API_KEYS: 3,000 rotating keys from one IP share its budget, the global bucket holds: a client on another IP gets 2xx",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({ rateLimit: global })
        yield* closeAgents
        const attack = yield* Effect.fork(rotatingKeys(url, "/positions"))
        const good = yield* compliant(url, "/positions", { from: "127.0.0.2" })
        const { counts, seconds } = yield* Fiber.join(attack)
        expect(good.every((s) => s >= 200 && s < 300), String(good)).toBe(true)
        expect([...counts.keys()].every((s) => s === 200 || s === 429), JSON.stringify([...counts])).toBe(true)
        // one IP's budget (its burst plus its refill for the attack's duration), not 10,000
        expect(counts.get(200) ?? 0).toBeLessThanOrEqual(oneBudget(seconds))
      }),
    300_000
  )
})
