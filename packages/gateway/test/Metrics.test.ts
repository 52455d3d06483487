/**
 * `GET /metrics` of a real gateway process (`node --import tsx src/main.ts`),
 * read by the Prometheus project's own text-format parser: every series of a
 * documented family (`Observability.metrics`) has the documented type and
 * label keys, and none is undocumented; before a breaker opens and after.
 * Every wait has seconds of margin.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Observability from "../src/Observability.js"
import { startGatewayProcess } from "./utils/gatewayProcess.js"
import { type Family, parsePrometheusText, type Sample } from "./utils/prometheusText.js"

const documented = new Map(Observability.metrics.map((m) => [m.name, m]))

const scrape = async (url: string): Promise<ReadonlyArray<Family>> => {
  const response = await fetch(url + "/metrics", { signal: AbortSignal.timeout(20_000) })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toBe(Observability.prometheusContentType)
  return parsePrometheusText(await response.text())
}

// the parser names a counter's family without `_total` (as OpenMetrics does); its samples keep it
const familyName = (family: Family): string => family.type === "counter" ? `${family.name}_total` : family.name

const ours = (families: ReadonlyArray<Family>) =>
  families.filter((f) => f.name.startsWith("resilience_") || f.name.startsWith("http_server_"))

/** Every series of ours is documented, with the documented type and label keys; returns the families by name. */
const checkDocumented = (families: ReadonlyArray<Family>): Map<string, Family> => {
  const byName = new Map<string, Family>()
  for (const family of ours(families)) {
    const name = familyName(family)
    const doc = documented.get(name)
    expect(documented.has(name), `${name} is documented`).toBe(true)
    expect(family.type, name).toBe(doc!.type)
    for (const sample of family.samples) {
      const keys = Object.keys(sample.labels).filter((k) => !(sample.name.endsWith("_bucket") && k === "le"))
      expect([...keys].sort(), `${sample.name} ${JSON.stringify(sample.labels)}`).toEqual([...doc!.labels].sort())
    }
    byName.set(name, family)
  }
  return byName
}

const sample = (family: Family | undefined, name: string, labels: Record<string, string>): Sample | undefined =>
  family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

const get = (url: string) => fetch(url, { signal: AbortSignal.timeout(20_000) })

describe("GET /metrics (a gateway process, the Prometheus parser)", () => {
  it("every documented series with its type and labels, before and after the broker's breaker opens", async () => {
    // a long reset timeout: the breaker stays Open while the test reads it
    const gateway = await startGatewayProcess({ SIM_RESET_TIMEOUT: "5 minutes" })
    try {
      const { url } = gateway
      expect((await get(url + "/account")).status).toBe(200)
      expect((await get(url + "/marketdata/quote/AAPL")).status).toBe(200)
      expect((await get(url + "/no/such/route")).status).toBe(404)

      const before = checkDocumented(await scrape(url))
      for (
        const name of [
          "resilience_circuit_breaker_calls_total",
          "resilience_circuit_breaker_state",
          "resilience_bulkhead_active",
          "resilience_rate_limiter_decisions_total",
          "http_server_request_duration_seconds"
        ]
      ) expect(before.has(name), name).toBe(true)
      const broker = { policy: "circuit_breaker", service: "simulated", operation: "broker_api" }
      expect(sample(before.get("resilience_circuit_breaker_state"), "resilience_circuit_breaker_state", broker)?.value)
        .toBe(0)
      expect(
        sample(before.get("resilience_circuit_breaker_calls_total"), "resilience_circuit_breaker_calls_total", {
          ...broker,
          outcome: "success"
        })?.value
      ).toBeGreaterThanOrEqual(1)
      const http = before.get("http_server_request_duration_seconds")
      const account200 = { http_request_method: "GET", http_route: "/account", http_response_status_code: "200" }
      const count = sample(http, "http_server_request_duration_seconds_count", account200)
      expect(count?.value).toBe(1)
      // cumulative buckets: +Inf holds every request
      expect(sample(http, "http_server_request_duration_seconds_bucket", { ...account200, le: "+Inf" })?.value).toBe(1)
      expect(
        sample(http, "http_server_request_duration_seconds_count", {
          http_route: "/marketdata/quote/:symbol",
          http_response_status_code: "200"
        })?.value
      ).toBe(1)
      // a path no route declares: one bounded label value, not the path
      expect(sample(http, "http_server_request_duration_seconds_count", { http_route: "other" })?.labels)
        .toMatchObject({ http_response_status_code: "404" })
      expect(http!.samples.some((s) => s.labels.http_route === "/no/such/route")).toBe(false)

      // the broker goes down: the first calls fail after their retries, then the breaker opens and rejects
      const injected = await fetch(url + "/admin/faults", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ target: "broker", kind: "outage" }),
        signal: AbortSignal.timeout(20_000)
      })
      expect(injected.status).toBe(200)
      let last = 0
      for (let i = 0; i < 100 && last !== 503; i++) last = (await get(url + "/account")).status
      expect(last).toBe(503)

      const after = checkDocumented(await scrape(url))
      expect(sample(after.get("resilience_circuit_breaker_state"), "resilience_circuit_breaker_state", broker)?.value)
        .toBe(2)
      expect(
        sample(
          after.get("resilience_circuit_breaker_transitions_total"),
          "resilience_circuit_breaker_transitions_total",
          {
            ...broker,
            from: "Closed",
            to: "Open"
          }
        )?.value
      ).toBe(1)
      expect(
        sample(
          after.get("resilience_circuit_breaker_rejections_total"),
          "resilience_circuit_breaker_rejections_total",
          {
            ...broker,
            state: "Open"
          }
        )?.value
      ).toBeGreaterThanOrEqual(1)
      expect(
        sample(after.get("resilience_circuit_breaker_calls_total"), "resilience_circuit_breaker_calls_total", {
          ...broker,
          outcome: "failure"
        })?.value
      ).toBeGreaterThanOrEqual(1)
      const attempts = after.get("resilience_retry_attempts_total")
      expect(attempts?.samples.some((s) => s.labels.policy === "retry" && s.value >= 1)).toBe(true)
      const delays = after.get("resilience_retry_delay_seconds")
      expect(delays?.samples.some((s) => s.name === "resilience_retry_delay_seconds_count" && s.value >= 1)).toBe(true)
      expect(
        sample(after.get("http_server_request_duration_seconds"), "http_server_request_duration_seconds_count", {
          http_route: "/account",
          http_response_status_code: "503"
        })?.value
      ).toBeGreaterThanOrEqual(1)
    } finally {
      await gateway.stop()
    }
  }, 180_000)
})
