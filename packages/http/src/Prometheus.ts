/**
 * Prometheus exposition of Effect metrics: every counter, gauge, histogram,
 * summary and frequency in the global metric registry (the policies' calls,
 * failures, rejections, retries, breaker states, bulkhead occupancy and
 * limiter decisions among them), rendered in the Prometheus text format
 * 0.0.4, with metric tags as labels.
 *
 * Reach for `Group` + `layer` to serve `GET /metrics` from your HttpApi, or
 * for `render` / `snapshot` to expose the text anywhere else. No
 * OpenTelemetry SDK is needed; if you already run one, use its exporter
 * instead.
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"

/**
 * The content type of the Prometheus text format.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Which metrics to expose, by name.
   *
   * @default every metric
   */
  readonly include?: ((name: string) => boolean) | undefined
}

/**
 * Render metric pairs (from `Metric.snapshot`) in the Prometheus text
 * format. Names are sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`, label values
 * escaped; series of one name are grouped under one `# TYPE` line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  options: Options = {}
): string => {
  const families = new Map<string, { type: string; help: string | undefined; lines: Array<string> }>()
  const family = (name: string, type: string, help: string | undefined) => {
    let f = families.get(name)
    if (f === undefined) {
      f = { type, help, lines: [] }
      families.set(name, f)
    }
    return f
  }
  for (const pair of pairs) {
    const key = pair.metricKey
    if (options.include !== undefined && !options.include(key.name)) continue
    const name = metricName(key.name)
    const help = key.description._tag === "Some" ? key.description.value : undefined
    const tags: Array<readonly [string, string]> = key.tags.map((t) => [labelName(t.key), t.value] as const)
    const state = pair.metricState
    if (MetricState.isCounterState(state)) {
      family(name, "counter", help).lines.push(`${name}${labels(tags)} ${num(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", help).lines.push(`${name}${labels(tags)} ${num(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const f = family(name, "histogram", help)
      let sawInf = false
      for (const [boundary, count] of state.buckets) {
        if (boundary === Number.POSITIVE_INFINITY) sawInf = true
        f.lines.push(`${name}_bucket${labels(tags, ["le", le(boundary)])} ${num(count)}`)
      }
      if (!sawInf) f.lines.push(`${name}_bucket${labels(tags, ["le", "+Inf"])} ${num(state.count)}`)
      f.lines.push(`${name}_sum${labels(tags)} ${num(state.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${num(state.count)}`)
    } else if (MetricState.isSummaryState(state)) {
      const f = family(name, "summary", help)
      for (const [quantile, value] of state.quantiles) {
        const v = value._tag === "Some" ? num(value.value) : "NaN"
        f.lines.push(`${name}${labels(tags, ["quantile", num(quantile)])} ${v}`)
      }
      f.lines.push(`${name}_sum${labels(tags)} ${num(state.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${num(state.count)}`)
    } else if (MetricState.isFrequencyState(state)) {
      // a frequency is a counter per observed value
      const f = family(name, "counter", help)
      for (const [value, count] of state.occurrences) {
        f.lines.push(`${name}${labels(tags, ["key", value])} ${num(count)}`)
      }
    }
  }
  let out = ""
  for (const [name, f] of families) {
    if (f.help !== undefined) out += `# HELP ${name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n`
    out += `# TYPE ${name} ${f.type}\n`
    for (const line of f.lines) out += line + "\n"
  }
  return out
}

/**
 * The current Prometheus text of the global metric registry.
 *
 * @since 0.1.0
 * @category rendering
 */
export const snapshot = (options: Options = {}): Effect.Effect<string> =>
  Effect.map(Metric.snapshot, (pairs) => render(pairs, options))

/**
 * An HttpApiGroup serving `GET /metrics` (top level: no group prefix). Add it
 * to your API with `.add(Prometheus.Group)` and serve it with `layer(api)`.
 *
 * @since 0.1.0
 * @category groups
 */
export const Group: HttpApiGroup.HttpApiGroup<
  "prometheus",
  HttpApiEndpoint.HttpApiEndpoint<"metrics", "GET", never, never, never, never, string>,
  never,
  never,
  true
> = HttpApiGroup.make("prometheus", { topLevel: true }).add(
  HttpApiEndpoint.get("metrics", "/metrics").addSuccess(HttpApiSchema.Text({ contentType }))
)

/**
 * The handlers of `Group` for an API that includes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups, E, R>,
  options: Options = {}
): Layer.Layer<HttpApiGroup.ApiGroup<ApiId, "prometheus">> =>
  HttpApiBuilder.group(
    api as unknown as HttpApi.HttpApi<ApiId, typeof Group, never, never>,
    "prometheus",
    (handlers) =>
      handlers.handle(
        "metrics",
        () =>
          Effect.map(
            snapshot(options),
            (text) => HttpServerResponse.text(text, { contentType }) as unknown as string
          )
      )
  ) as any

const num = (n: number | bigint): string => {
  if (typeof n === "bigint") return n.toString()
  if (Number.isNaN(n)) return "NaN"
  if (n === Number.POSITIVE_INFINITY) return "+Inf"
  if (n === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(n)
}

const le = (boundary: number): string => (boundary === Number.POSITIVE_INFINITY ? "+Inf" : num(boundary))

const metricName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(s) || s.length === 0 ? `_${s}` : s
}

const labelName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(s) || s.length === 0 ? `_${s}` : s
}

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const labels = (tags: ReadonlyArray<readonly [string, string]>, extra?: readonly [string, string]): string => {
  if (tags.length === 0 && extra === undefined) return ""
  const parts = tags.map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`)
  return `{${parts.join(",")}}`
}
