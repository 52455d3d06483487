/**
 * Hedging a read with a long latency tail.
 *
 * The simulated provider answers in 20 ms, except one call in ten, which
 * takes 2 s. Without a hedge, those calls take 2 s; with a hedge after the
 * 90th percentile of recent latencies, a second attempt starts and answers
 * in ~20 ms, and the slow one is interrupted (its request aborted).
 * An order is never hedged: the same policy without `idempotent` runs the
 * call once.
 *
 * Run: `pnpm exec tsx packages/core/examples/hedge.ts`
 */
import { Hedge } from "@effect-resilience/core"
import { Console, Duration, Effect, Random } from "effect"

let sent = 0
let aborted = 0
const getQuote = Effect.gen(function*() {
  sent++
  const slow = (yield* Random.next) < 0.1
  yield* Effect.sleep(slow ? "2 seconds" : "20 millis")
  return 189.5
}).pipe(Effect.onInterrupt(() => Effect.sync(() => aborted++)))

const timed = (label: string, calls: number, run: Effect.Effect<unknown>) =>
  Effect.gen(function*() {
    sent = 0
    aborted = 0
    const latencies: Array<number> = []
    for (let i = 0; i < calls; i++) {
      const start = Date.now()
      yield* run
      latencies.push(Date.now() - start)
    }
    latencies.sort((a, b) => a - b)
    const p = (q: number) => latencies[Math.ceil(q * latencies.length) - 1]
    yield* Console.log(
      `${label}: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms; requests ${sent}, aborted ${aborted}`
    )
  })

const program = Effect.gen(function*() {
  const hedge = yield* Hedge.make({
    delay: { percentile: 90, initial: "100 millis", window: 50 },
    maxHedgedAttempts: 1,
    idempotent: true
  })
  const orders = yield* Hedge.make({ delay: "50 millis" }) // not idempotent: never hedges
  yield* timed("no hedge      ", 50, getQuote)
  yield* timed("hedged        ", 50, hedge.execute(getQuote))
  yield* timed("not idempotent", 20, orders.execute(getQuote))
  yield* Console.log("hedging delay now:", Duration.format(yield* hedge.currentDelay))
})

Effect.runPromise(Effect.withRandom(program, Random.make("tail")))
