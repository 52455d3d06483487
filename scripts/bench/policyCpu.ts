/**
 * A small CPU-time runner for the policy hot path (issue 7, section 1's Effect
 * rows), for A/B work on a shared machine: each variant runs n calls in one
 * fiber; its cost per call is measured with `process.cpuUsage` (CPU time of
 * this process, so other processes' load matters less than with wall time);
 * rounds are interleaved and each figure is a median over them.
 *
 *   pnpm exec tsx scripts/bench/policyCpu.ts [rounds=15] [filter]
 *
 * Prints one JSON line per variant: `{ label, ns, added, min, max }` (ns per
 * call; added = ns - the bare loop's ns; min/max of the per-round figures).
 */
import {
  bulkhead as cBulkhead,
  circuitBreaker as cBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry as cRetry,
  timeout as cTimeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Effect } from "effect"
import * as Policy from "../../packages/core/src/Policy.js"
import { cpuNanos, effectLoop, median, promiseLoop } from "./harness.js"
import { makePolicies } from "./policies.js"

interface Variant {
  readonly label: string
  readonly run: (n: number) => Promise<void>
  n: number
  readonly samples: Array<number>
}

const main = async () => {
  const rounds = Number(process.argv[2] ?? 15)
  const filter = process.argv[3]
  const policies = await makePolicies()
  const { breaker, bulkhead, composed, options, resilient, retry, runDefault, runResilience, stacked, timeout } =
    policies

  const sync = Effect.succeed(1)
  const promise = Effect.promise(async () => 1)
  const fn = async () => 1
  const cAll = wrap(
    cBulkhead(10, 0),
    cRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    cBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    cTimeout(10_000, TimeoutStrategy.Aggressive)
  )

  const eff = <R>(
    label: string,
    run: (e: Effect.Effect<void, unknown, R>) => Promise<void>,
    body: () => Effect.Effect<unknown, unknown, R>,
    n = 100_000
  ): Variant => ({ label, n, samples: [], run: effectLoop(run, body) })
  const prom = (label: string, body: () => Promise<unknown>, n = 20_000): Variant => ({
    label,
    n,
    samples: [],
    run: promiseLoop(body)
  })

  const all: Array<Variant> = [
    eff("bare", runDefault, () => sync),
    eff("CircuitBreaker", runDefault, () => breaker.execute(sync)),
    eff("Retry", runDefault, () => retry.execute(sync)),
    eff("Bulkhead", runDefault, () => bulkhead.execute(sync)),
    eff("Timeout", runDefault, () => timeout.execute(sync)),
    eff("stack(4)", runDefault, () => stacked(sync)),
    eff("compose(4)", runDefault, () => composed(sync)),
    eff("withResilience(4)", runResilience, () => resilient(sync)),
    eff("withResilience data-first", runResilience, () => Policy.withResilience(sync, options)),
    eff("bare promise", runDefault, () => promise, 20_000),
    eff("Timeout promise", runDefault, () => timeout.execute(promise), 20_000),
    eff("withResilience(4) promise", runResilience, () => resilient(promise), 20_000),
    prom("bare await", fn),
    prom("cockatiel wrap(4)", () => cAll.execute(fn), 5_000)
  ]
  const variants = filter === undefined
    ? all
    : all.filter((v) => v.label.startsWith("bare") || new RegExp(filter).test(v.label))

  for (const v of variants) await v.run(v.n) // warm-up
  for (const v of variants) await v.run(v.n)
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) v.samples.push((await cpuNanos(() => v.run(v.n))) / v.n)
  }
  const base = (label: string) => {
    const group = label.includes("promise") ? "bare promise" : label.includes("cockatiel") ? "bare await" : "bare"
    return median(variants.find((v) => v.label === group)!.samples)
  }
  for (const v of variants) {
    const ns = median(v.samples)
    console.log(JSON.stringify({
      label: v.label,
      ns: Math.round(ns),
      added: Math.round(ns - base(v.label)),
      min: Math.round(Math.min(...v.samples)),
      max: Math.round(Math.max(...v.samples))
    }))
  }
  await policies.dispose()
}

main()
