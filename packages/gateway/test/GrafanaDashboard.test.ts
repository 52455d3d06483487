/**
 * The Grafana dashboard in grafana/gateway-dashboard.json: every query is
 * valid PromQL as the Prometheus project's own grammar reads it
 * (@prometheus-io/lezer-promql), names only metrics the gateway documents
 * (`Observability.metrics`, which Metrics.test.ts holds the real /metrics
 * to: every exported series documented, with its type and labels), and
 * uses only labels those metrics carry. The panels the operator needs are
 * there.
 */
import { describe, expect, it } from "@effect/vitest"
import { parser } from "@prometheus-io/lezer-promql"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Observability from "../src/Observability.js"

interface Panel {
  readonly title: string
  readonly type: string
  readonly datasource: { readonly type: string; readonly uid: string }
  readonly targets: ReadonlyArray<{ readonly expr: string; readonly refId: string }>
}

const dashboardPath = Path.resolve(import.meta.dirname, "../grafana/gateway-dashboard.json")
const dashboard = JSON.parse(Fs.readFileSync(dashboardPath, "utf8")) as {
  readonly uid: string
  readonly title: string
  readonly __inputs: ReadonlyArray<{ readonly name: string; readonly pluginId: string }>
  readonly panels: ReadonlyArray<Panel>
}

const documented = new Map(Observability.metrics.map((m) => [m.name, m]))

// A histogram's series are named <family>_bucket / _sum / _count.
const familyOf = (series: string): string | undefined => {
  if (documented.has(series)) return series
  const base = series.replace(/_(bucket|sum|count)$/, "")
  return documented.get(base)?.type === "histogram" ? base : undefined
}

/** The metric names, label names and syntax errors of one PromQL expression. */
const read = (expr: string) => {
  // Grafana's interval variable, as Grafana substitutes it before Prometheus sees the query
  const promql = expr.replaceAll("$__rate_interval", "5m")
  const names: Array<string> = []
  const labels: Array<string> = []
  const errors: Array<number> = []
  parser.parse(promql).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from)
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier")
        if (identifier !== null) names.push(promql.slice(identifier.from, identifier.to))
      }
      if (node.name === "LabelName") labels.push(promql.slice(node.from, node.to))
    }
  })
  return { names, labels, errors }
}

describe("Grafana dashboard (grafana/gateway-dashboard.json)", () => {
  const targets = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel, target })))

  it("imports as a dashboard with a Prometheus data source input", () => {
    expect(dashboard.uid).toBe("effect-resilience-gateway")
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", pluginId: "prometheus" })])
    for (const panel of dashboard.panels) {
      expect(panel.datasource).toEqual({ type: "prometheus", uid: "${DS_PROMETHEUS}" })
    }
    expect(targets.length).toBeGreaterThanOrEqual(12)
  })

  it("every query is valid PromQL and names only documented metrics, with labels those metrics carry", () => {
    for (const { panel, target } of targets) {
      const where = `${panel.title} / ${target.refId}: ${target.expr}`
      const { errors, labels, names } = read(target.expr)
      expect(errors, where).toEqual([])
      expect(names.length, where).toBeGreaterThan(0)
      const families = names.map((name) => {
        const family = familyOf(name)
        expect(family !== undefined && documented.has(family), `${where}: ${name} is a documented metric`).toBe(true)
        return documented.get(family!)!
      })
      const known = new Set(families.flatMap((f) => [...f.labels, ...(f.type === "histogram" ? ["le"] : [])]))
      for (const label of labels) expect(known.has(label), `${where}: label ${label}`).toBe(true)
    }
  })

  it("has the panels an operator looks for, over the metrics that show them", () => {
    const queried = (title: string) =>
      dashboard.panels.filter((p) => p.title.toLowerCase().includes(title)).flatMap((p) =>
        p.targets.flatMap((t) => read(t.expr).names.map((n) => familyOf(n)!))
      )
    expect(queried("breaker state")).toContain("resilience_circuit_breaker_state")
    expect(queried("rejections by policy")).toEqual(expect.arrayContaining([
      "resilience_circuit_breaker_rejections_total",
      "resilience_bulkhead_rejections_total",
      "resilience_rate_limiter_decisions_total",
      "resilience_timeouts_total"
    ]))
    expect(queried("retry rate")).toContain("resilience_retry_attempts_total")
    expect(queried("bulkhead occupancy")).toEqual(expect.arrayContaining([
      "resilience_bulkhead_active",
      "resilience_bulkhead_waiting"
    ]))
    expect(queried("rate limiter decisions")).toContain("resilience_rate_limiter_decisions_total")
    for (const title of ["http request rate", "http errors", "http latency"]) {
      expect(queried(title), title).toContain("http_server_request_duration_seconds")
    }
  })

  it("the checker itself rejects a query naming an unknown metric or with a syntax error", () => {
    expect(read("rate(resilience_circuit_breaker_calls_total[5m]").errors.length).toBeGreaterThan(0)
    expect(familyOf(read("sum(rate(effect_resilience_bulkhead_rejections_total[5m]))").names[0]!)).toBeUndefined()
  })
})
