/**
 * The admin routes' faults go through core's `FaultInjection`: a fault
 * switched at run time is counted by `resilience_fault_injections_total`
 * (policy `fault_injection`) as a core injection is, read from the gateway's
 * own `GET /metrics` by the Prometheus parser.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { request, startGateway } from "./utils/gateway.js"
import { parsePrometheusText } from "./utils/prometheusText.js"

// the metric registry is the process's: compare before and after
const injected = (url: string, service: string) =>
  Effect.promise(async () => {
    const response = await fetch(url + "/metrics", { signal: AbortSignal.timeout(20_000) })
    const families = parsePrometheusText(await response.text())
    const family = families.find((f) => f.name === "resilience_fault_injections")
    const sample = family?.samples.find((s) =>
      s.labels.policy === "fault_injection" && s.labels.service === service && s.labels.reason === "failure"
    )
    return sample?.value ?? 0
  })

describe("admin faults through core's FaultInjection", () => {
  it.scopedLive("an outage and an error rate switched at run time are counted as injected failures", () =>
    Effect.gen(function*() {
      const url = yield* startGateway()
      const outagesBefore = yield* injected(url, "simulated-outage")
      const errorsBefore = yield* injected(url, "simulated-errors")
      expect((yield* request(url, "/account")).status).toBe(200)
      expect(yield* injected(url, "simulated-outage")).toBe(outagesBefore)

      expect(
        (yield* request(url, "/admin/faults", { method: "POST", body: { target: "broker", kind: "outage" } })).status
      )
        .toBe(200)
      expect((yield* request(url, "/account")).status).not.toBe(200)
      expect(yield* injected(url, "simulated-outage")).toBeGreaterThan(outagesBefore)

      expect(
        (yield* request(url, "/admin/faults", {
          method: "POST",
          body: { target: "marketdata", kind: "error-rate", rate: 1 }
        })).status
      ).toBe(200)
      expect((yield* request(url, "/marketdata/bars/AAPL?limit=1")).status).not.toBe(200)
      expect(yield* injected(url, "simulated-errors")).toBeGreaterThan(errorsBefore)

      // cleared: no more injections
      expect((yield* request(url, "/admin/faults", { method: "DELETE" })).status).toBe(200)
      const errorsCleared = yield* injected(url, "simulated-errors")
      expect((yield* request(url, "/marketdata/bars/AAPL?limit=1")).status).toBe(200)
      expect(yield* injected(url, "simulated-errors")).toBe(errorsCleared)
    }))
})
