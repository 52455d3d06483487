/**
 * Test harness: a Prometheus text exposition read by the Prometheus
 * project's own parser (`prometheus_client.parser` of the official Python
 * client, Debian's python3-prometheus-client, installed by
 * scripts/setup-system.sh), so the test holds the text to what Prometheus
 * reads, not to what a hand-written regex expects.
 */
import { spawnSync } from "node:child_process"

/** One sample: its full name (`_total`, `_bucket`, `_sum`, `_count` included), labels and value. */
export interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** One family as the parser groups it (a counter's family name has no `_total`, as in OpenMetrics). */
export interface Family {
  readonly name: string
  readonly type: string
  readonly samples: ReadonlyArray<Sample>
}

const script = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)}
        for s in f.samples]})
json.dump(out, sys.stdout)
`

/** Parses `text`; a text the parser rejects throws with the parser's message. */
export const parsePrometheusText = (text: string): ReadonlyArray<Family> => {
  const run = spawnSync("/usr/bin/python3", ["-c", script], { input: text, encoding: "utf8", timeout: 60_000 })
  if (run.status !== 0) throw new Error(`the Prometheus parser rejected the exposition:\n${run.stderr}`)
  return JSON.parse(run.stdout) as ReadonlyArray<Family>
}
