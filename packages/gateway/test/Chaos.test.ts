import { Chaos } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { startGateway } from "./utils/gateway.js"

describe("chaos run", () => {
  it.scopedLive(
    "normal → broker outage → recovery → quota storm: 503s and 429s where expected, no duplicate order",
    () =>
      Effect.gen(function*() {
        // seconds of margin: a provider call is not timed out by a busy machine,
        // and a phase lasts long enough for the breaker to open within it
        const url = yield* startGateway({
          simulated: { resetTimeout: Duration.millis(700), timeout: Duration.seconds(5) },
          rateLimit: { apiKeys: Chaos.apiKeys(6) }
        })
        const lines: Array<string> = []
        const report = yield* Effect.promise(() =>
          Chaos.run({ url, clients: 6, phaseSeconds: 3, log: (line) => lines.push(line) })
        )
        const phase = (name: string) => report.phases.find((p) => p.name === name)!.counts
        expect(phase("normal").requests).toBeGreaterThan(20)
        expect(phase("normal").ok).toBe(phase("normal").requests)
        expect(phase("broker outage").unavailable).toBeGreaterThan(0)
        expect(phase("quota storm").rateLimited).toBeGreaterThan(0)
        expect(report.total.ordersPlaced).toBeGreaterThan(0)
        expect(report.book).toEqual({ orders: expect.any(Number), duplicates: 0 })
        expect(report.book!.orders).toBeGreaterThanOrEqual(report.total.ordersPlaced)
        expect(report.breakerTransitions).toBeGreaterThanOrEqual(3) // Open, HalfOpen, Closed at least
        expect(report.timeline.length).toBeGreaterThanOrEqual(6)
        expect(lines.join("\n")).toContain("duplicate orders 0")
      }),
    60_000
  )
})
