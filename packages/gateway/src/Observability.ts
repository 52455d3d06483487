/**
 * The gateway's OpenTelemetry wiring: Effect's metrics and spans through
 * `@effect/opentelemetry`, `GET /metrics` rendered by the official
 * Prometheus exporter, OTLP over HTTP when the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the HTTP server's own histogram
 * (`http_server_request_duration_seconds`, by route, method and status).
 *
 * Without `OTEL_EXPORTER_OTLP_ENDPOINT` no tracer is installed (the policies
 * then record nothing on spans and pay nothing for it) and metrics are read
 * only when `/metrics` is scraped. With it, traces (batched) and metrics
 * (every `OTEL_METRIC_EXPORT_INTERVAL` ms, default 60000) are sent to
 * `${endpoint}/v1/traces` and `${endpoint}/v1/metrics`; the exporters read
 * the other standard variables (`OTEL_EXPORTER_OTLP_HEADERS`, …) themselves.
 *
 * @since 0.1.0
 */
import * as CoreObservability from "@effect-resilience/core/Observability"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import { GatewayApi } from "./Api.js"
import type { GatewayConfig } from "./GatewayConfig.js"

/**
 * The content type of the Prometheus text exposition format.
 *
 * @since 0.1.0
 * @category constants
 */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * Where the gateway's telemetry goes (`GatewayConfig`'s `telemetry`, from
 * the standard OpenTelemetry environment variables).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = GatewayConfig["telemetry"]

/**
 * The Prometheus text of every Effect metric in the process, as the official
 * exporter renders it.
 *
 * @since 0.1.0
 * @category tags
 */
export class PrometheusMetrics extends Context.Tag("@effect-resilience/gateway/Observability/PrometheusMetrics")<
  PrometheusMetrics,
  { readonly scrape: Effect.Effect<string> }
>() {}

/**
 * The OpenTelemetry SDK for the gateway's process (see the module header),
 * and `PrometheusMetrics` for `GET /metrics`. The readers and span processor
 * are flushed and shut down when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (opts: Options): Layer.Layer<PrometheusMetrics> =>
  Layer.unwrapEffect(Effect.sync(() => {
    // The exporter as a reader only: the gateway serves its text on its own port, behind its own middleware.
    const prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true })
    const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
    const metricReader: Array<MetricReader> = [prometheus]
    const spanProcessor: Array<SpanProcessor> = []
    if (Option.isSome(opts.otlpEndpoint)) {
      // the exporters read OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces, /v1/metrics) and its siblings themselves
      metricReader.push(
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter(),
          exportIntervalMillis: opts.metricExportIntervalMillis,
          exportTimeoutMillis: Math.min(30_000, opts.metricExportIntervalMillis)
        })
      )
      spanProcessor.push(new BatchSpanProcessor(new OTLPTraceExporter()))
    }
    const sdk = NodeSdk.layer(() => ({
      resource: { serviceName: opts.serviceName },
      metricReader,
      spanProcessor
    }))
    const scrape = Effect.promise(() => prometheus.collect()).pipe(
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
    )
    return Layer.merge(Layer.discard(sdk), Layer.succeed(PrometheusMetrics, { scrape }))
  }))

/**
 * The handler of the API's `GET /metrics`.
 *
 * @since 0.1.0
 * @category layers
 */
export const metricsHandlers = HttpApiBuilder.group(
  GatewayApi,
  "metrics",
  (handlers) => handlers.handle("metrics", () => Effect.flatMap(PrometheusMetrics, (metrics) => metrics.scrape))
)

// ---------------------------------------------------------------------------
// HTTP server metrics
// ---------------------------------------------------------------------------

/**
 * The buckets of `http_server_request_duration_seconds`, in seconds: the
 * OpenTelemetry HTTP semantic conventions' advice (5 ms … 10 s).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestDurationBuckets: ReadonlyArray<number> = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10
]

/**
 * Histogram of the gateway's requests, in seconds, labelled
 * `http_request_method`, `http_route` (the route template, e.g.
 * `/orders/:id`; `other` for paths no route declares) and
 * `http_response_status_code` (499: the client went away).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "http_server_request_duration_seconds",
  MetricBoundaries.fromIterable(requestDurationBuckets),
  "Duration of HTTP server requests, by route, method and status"
)

const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"])

// Routes as segments, `:param` matching any one segment; the API's endpoints plus the pages served beside it.
const routes: ReadonlyArray<{ readonly route: string; readonly segments: ReadonlyArray<string> }> = (() => {
  const templates = new Set<string>(["/", "/dashboard", "/dashboard/app.js", "/dashboard/app.css", "/dashboard/state"])
  templates.add("/dashboard/events").add("/docs").add("/openapi.json")
  HttpApi.reflect(GatewayApi, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      templates.add(endpoint.path)
    }
  })
  const params = (segments: ReadonlyArray<string>) => segments.filter((s) => s.startsWith(":")).length
  return [...templates]
    .map((route) => ({ route, segments: route.split("/").filter((s) => s.length > 0) }))
    .sort((a, b) => params(a.segments) - params(b.segments)) // a literal segment wins over a parameter
})()

/**
 * The route template a request path matches (case-insensitively, ignoring
 * the query and empty segments), or `other`: the label's values are
 * bounded by the routes the gateway declares, whatever clients send.
 *
 * @since 0.1.0
 * @category metrics
 */
export const routeOf = (url: string): string => {
  const q = url.indexOf("?")
  const segments = (q === -1 ? url : url.slice(0, q)).toLowerCase().split("/").filter((s) => s.length > 0)
  for (const { route, segments: template } of routes) {
    if (template.length !== segments.length) continue
    let match = true
    for (let i = 0; i < template.length; i++) {
      const t = template[i]!
      if (t.startsWith(":") ? segments[i]!.length === 0 : t.toLowerCase() !== segments[i]) {
        match = false
        break
      }
    }
    if (match) return route
  }
  return "other"
}

// One label array per (route, method, status) seen: bounded by the routes, nine methods and the status codes.
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

/**
 * Records one finished request in `requestDuration`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const unsafeRecordRequest = (method: string, url: string, status: number, seconds: number): void => {
  const m = knownMethods.has(method) ? method : "_OTHER"
  const route = routeOf(url)
  const key = `${m} ${route} ${status}`
  let labels = labelCache.get(key)
  if (labels === undefined) {
    labels = [
      MetricLabel.make("http_request_method", m),
      MetricLabel.make("http_route", route),
      MetricLabel.make("http_response_status_code", String(status))
    ]
    labelCache.set(key, labels)
  }
  requestDuration.unsafeUpdate(seconds, labels)
}

/**
 * Every metric family the gateway documents (its dashboard queries only
 * these): core's policies (`Observability.metrics` of
 * `@effect-resilience/core`), the HTTP client's retries, the Redis store's
 * (when `REDIS_URL` is set) and the HTTP server's histogram.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: ReadonlyArray<CoreObservability.MetricFamily> = [
  ...CoreObservability.metrics,
  {
    name: "resilience_http_client_retries_total",
    type: "counter",
    labels: ["policy", "service", "operation", "host", "reason"],
    description: "Retries made by ResilientHttpClient"
  },
  {
    name: "resilience_rate_limiter_store_errors_total",
    type: "counter",
    labels: ["policy", "service", "operation", "store", "reason"],
    description: "Rate limiter store calls that failed"
  },
  {
    name: "resilience_rate_limiter_store_degraded",
    type: "gauge",
    labels: ["policy", "service", "operation", "store"],
    description: "1 while the Redis rate limiter store answers with its failure mode"
  },
  {
    name: "resilience_rate_limiter_store_fallback_decisions_total",
    type: "counter",
    labels: ["policy", "service", "operation", "store", "mode"],
    description: "Decisions made by the failure mode instead of Redis"
  },
  {
    name: "http_server_request_duration_seconds",
    type: "histogram",
    labels: ["http_request_method", "http_route", "http_response_status_code"],
    description: "Duration of HTTP server requests, by route, method and status"
  }
]
