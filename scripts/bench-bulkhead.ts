// Quick micro-benchmark: ns added per call by a bulkhead on the success path
// (a free permit, nobody waiting), against Effect's Semaphore. Not a test.
// Run: pnpm exec tsx scripts/bench-bulkhead.ts
import { Effect } from "effect"
import * as Bulkhead from "../packages/core/src/Bulkhead.js"

const N = 200_000
const work = Effect.succeed(1)

const loop = (body: Effect.Effect<number, unknown>): Effect.Effect<void, unknown> => {
  const go = (n: number): Effect.Effect<void, unknown> => n === 0 ? Effect.void : Effect.flatMap(body, () => go(n - 1))
  return go(N)
}

const time = async (label: string, body: Effect.Effect<number, unknown>) => {
  const program = loop(body)
  for (let i = 0; i < 3; i++) await Effect.runPromise(program) // warm up
  const samples: Array<number> = []
  for (let i = 0; i < 7; i++) {
    const start = process.hrtime.bigint()
    await Effect.runPromise(program)
    samples.push(Number(process.hrtime.bigint() - start) / N)
  }
  samples.sort((a, b) => a - b)
  return { label, nsPerCall: samples[3]! }
}

const main = async () => {
  const bulkhead = await Effect.runPromise(Bulkhead.make({ name: "bench", maxConcurrent: 10 }))
  const semaphore = await Effect.runPromise(Effect.makeSemaphore(10))
  const results = [
    await time("baseline Effect.succeed", work),
    await time("Bulkhead.execute", bulkhead.execute(work)),
    await time("Effect.onExit (reference)", Effect.onExit(work, () => Effect.void)),
    await time("Semaphore.withPermits(1)", semaphore.withPermits(1)(work))
  ]
  const base = results[0]!.nsPerCall
  for (const r of results) {
    console.log(
      `${r.label.padEnd(28)} ${r.nsPerCall.toFixed(0).padStart(6)} ns/call  (+${(r.nsPerCall - base).toFixed(0)} ns)`
    )
  }
}

main()
