/**
 * Reading the policies' metrics in tests, by the Observability scheme's labels.
 */
import { Effect, Metric } from "effect"

/** The count of a counter series of the Observability scheme (`policy`, `service`, `operation` "", then `extra`). */
export const counterValue = (name: string, policy: string, service: string, extra: Record<string, string> = {}) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const all: Record<string, string> = { policy, service, operation: "", ...extra }
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      const found = pair.metricKey.tags.length === Object.keys(all).length &&
        pair.metricKey.tags.every((t) => all[t.key] === t.value)
      if (found) return Number((pair.metricState as unknown as { count: number | bigint }).count)
    }
    return 0
  })
