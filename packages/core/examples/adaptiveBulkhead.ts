/**
 * An adaptive bulkhead in front of an upstream whose capacity we do not know:
 * it answers in 20 ms while at most 40 calls are in it, and more slowly beyond
 * (20 ms · inflight / 40: a queue forms). 120 clients call it in a loop. The
 * bulkhead starts at a limit of 10, finds the upstream's knee from the latency
 * it measures (Vegas), and when the upstream degrades after 5 s (its knee
 * halves to 20) it follows it down. The limit is printed every half second.
 *
 * Windows of 200 ms instead of the default 1 s so that the run is short.
 *
 * Run: `pnpm exec tsx packages/core/examples/adaptiveBulkhead.ts`
 */
import { AdaptiveBulkhead, AdaptiveLimit } from "@effect-resilience/core"
import { Console, Effect, Fiber } from "effect"

// -- the simulated upstream ---------------------------------------------------
const upstream = { knee: 40, inflight: 0 }
const call = Effect.suspend(() => {
  upstream.inflight++
  const latency = 20 * Math.max(1, upstream.inflight / upstream.knee)
  return Effect.sleep(latency).pipe(Effect.ensuring(Effect.sync(() => upstream.inflight--)))
})

const program = Effect.gen(function*() {
  const bulkhead = yield* AdaptiveBulkhead.make({
    name: "quotes",
    algorithm: AdaptiveLimit.vegas(),
    minLimit: 1,
    maxLimit: 200,
    initialLimit: 10,
    maxWaiting: 120,
    window: { minTime: "200 millis", maxTime: "200 millis" }
  })
  const clients = yield* Effect.forEach(
    Array.from({ length: 120 }),
    () => Effect.fork(Effect.forever(Effect.ignore(bulkhead.execute(call)))),
    { concurrency: "unbounded" }
  )
  for (let tick = 1; tick <= 18; tick++) {
    yield* Effect.sleep("500 millis")
    if (tick === 10) {
      upstream.knee = 20
      yield* Console.log("-- the upstream degrades: its knee halves to 20")
    }
    const s = bulkhead.unsafeStats()
    yield* Console.log(
      `t=${tick * 0.5}s limit=${s.maxConcurrent} (knee ${upstream.knee}) in flight=${s.active} queued=${s.waiting}`
    )
  }
  yield* Fiber.interruptAll(clients)
})

Effect.runPromise(program)
