/**
 * OTLP over HTTP: a gateway process started with the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` sends its traces and metrics to it. The
 * receiver is a real HTTP server on a free loopback port in this test; it
 * keeps the JSON bodies the exporters post to `/v1/traces` and `/v1/metrics`.
 * Every wait has seconds of margin.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { startGatewayProcess, stopAll, until } from "./utils/gatewayProcess.js"

interface Receiver {
  readonly url: string
  readonly traces: Array<any>
  readonly metrics: Array<any>
  readonly close: () => Promise<void>
}

const startReceiver = async (): Promise<Receiver> => {
  const traces: Array<any> = []
  const metrics: Array<any> = []
  const server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      if (request.url === "/v1/traces") traces.push(body)
      else if (request.url === "/v1/metrics") metrics.push(body)
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    traces,
    metrics,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const spansOf = (bodies: ReadonlyArray<any>): Array<any> =>
  bodies.flatMap((b) => b.resourceSpans ?? []).flatMap((r: any) => r.scopeSpans ?? []).flatMap((s: any) =>
    s.spans ?? []
  )

const metricNamesOf = (bodies: ReadonlyArray<any>): Set<string> =>
  new Set(
    bodies.flatMap((b) => b.resourceMetrics ?? []).flatMap((r: any) => r.scopeMetrics ?? []).flatMap((s: any) =>
      (s.metrics ?? []).map((m: any) => m.name as string)
    )
  )

const serviceNameOf = (body: any, key: "resourceSpans" | "resourceMetrics"): string | undefined =>
  body[key]?.[0]?.resource?.attributes?.find((a: any) => a.key === "service.name")?.value?.stringValue

describe("OTLP/HTTP export (a gateway process, a loopback receiver)", () => {
  afterEach(stopAll)

  it("with OTEL_EXPORTER_OTLP_ENDPOINT set, traces and metrics reach the receiver", async () => {
    const receiver = await startReceiver()
    try {
      const gateway = await startGatewayProcess({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_METRIC_EXPORT_INTERVAL: "300",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_SERVICE_NAME: "gateway-under-test"
      })
      for (const path of ["/account", "/marketdata/quote/AAPL", "/health"]) {
        expect((await fetch(gateway.url + path, { signal: AbortSignal.timeout(20_000) })).status).toBe(200)
      }
      await until(
        "request spans and the policies' metrics at the receiver",
        () =>
          spansOf(receiver.traces).length >= 3 &&
          metricNamesOf(receiver.metrics).has("resilience_circuit_breaker_calls_total") &&
          metricNamesOf(receiver.metrics).has("http_server_request_duration_seconds"),
        60_000
      )
      expect(serviceNameOf(receiver.traces[0], "resourceSpans")).toBe("gateway-under-test")
      expect(serviceNameOf(receiver.metrics[0], "resourceMetrics")).toBe("gateway-under-test")
      const spans = spansOf(receiver.traces)
      // the platform's server span of each request, with the OpenTelemetry HTTP attributes
      const attribute = (span: any, key: string) => span.attributes?.find((a: any) => a.key === key)?.value
      const account = spans.find((s) => attribute(s, "url.path")?.stringValue === "/account")
      expect(account?.name).toBe("http.server GET")
      expect(attribute(account, "http.route")?.stringValue).toBe("/account")
      expect(Number(attribute(account, "http.response.status_code")?.intValue)).toBe(200)
      await gateway.stop()
    } finally {
      await receiver.close()
    }
  }, 120_000)
})
