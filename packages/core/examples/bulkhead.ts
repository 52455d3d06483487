/**
 * A bulkhead around order execution: at most 10 orders in flight at the
 * broker, 5 more queued in arrival order, everything beyond that rejected at
 * once with `BulkheadRejectedError { reason: "full" }` (and a queued order
 * that cannot start within 150 ms fails with `reason: "timeout"`).
 *
 * A burst of 20 orders arrives at once: 10 run, 5 wait and run as permits
 * free up, 5 are rejected. Then a burst of 15 orders with a 150 ms acquire
 * timeout against a slow broker: the waiters time out. The stats are printed
 * while the first burst is in flight.
 *
 * Run: `pnpm exec tsx packages/core/examples/bulkhead.ts`
 */
import { Bulkhead } from "@effect-resilience/core"
import { Console, Effect } from "effect"

// -- the simulated broker: each order takes `millis` to be acknowledged ------
const submitOrder = (id: number, millis: number) => Effect.as(Effect.sleep(millis), `order-${id} filled`)

const burst = (bulkhead: Bulkhead.Bulkhead, size: number, millis: number) =>
  Effect.forEach(
    Array.from({ length: size }, (_, i) => i + 1),
    (id) =>
      submitOrder(id, millis).pipe(
        Bulkhead.withPermit(bulkhead),
        Effect.catchTag("BulkheadRejectedError", (e) => Effect.succeed(`order-${id} rejected (${e.reason})`))
      ),
    { concurrency: "unbounded" }
  )

const program = Effect.gen(function*() {
  const orders = yield* Bulkhead.make({ name: "order-execution", maxConcurrent: 10, maxWaiting: 5 })

  // Print the live stats while the burst is in flight.
  const watcher = yield* Effect.fork(
    Effect.delay(orders.stats, "50 millis").pipe(
      Effect.flatMap((s) =>
        Console.log(`in flight: ${s.active}/${s.maxConcurrent}, queued: ${s.waiting}/${s.maxWaiting}`)
      )
    )
  )
  const results = yield* burst(orders, 20, 100)
  yield* watcher.await
  yield* Console.log(results.join("\n"))
  yield* Console.log("after the burst:", orders.unsafeStats())

  // Queued orders that cannot start in time fail fast instead of piling up.
  const impatient = yield* Bulkhead.make({
    name: "order-execution-impatient",
    maxConcurrent: 10,
    maxWaiting: 5,
    acquireTimeout: "150 millis"
  })
  const slow = yield* burst(impatient, 15, 500)
  yield* Console.log(slow.filter((r) => r.includes("timeout")).join("\n"))
})

Effect.runPromise(program)
