/**
 * The README's quick start, type-checked by `pnpm check`.
 *
 * Run: `pnpm exec tsx packages/core/examples/quickStart.ts` (nothing listens on
 * port 9999, so the retries run, then the call fails as a typed error).
 */
import { Policy } from "@effect-resilience/core"
import { Data, Duration, Effect } from "effect"

class ConnectionError extends Data.TaggedError("ConnectionError")<{ readonly cause: unknown }> {}

// a promise-returning call (use Effect.try for a synchronous one: same API)
const placeOrder = (order: { symbol: string; qty: number }) =>
  Effect.tryPromise({
    try: () => fetch("http://127.0.0.1:9999/orders", { method: "POST", body: JSON.stringify(order) }),
    catch: (cause) => new ConnectionError({ cause })
  }).pipe(
    // breaker + retry + bulkhead + timeout from the broker_api profile; the same service and
    // operation always share one breaker and one bulkhead
    Policy.withResilience({ service: "trading_gateway", operation: "place_order", serviceType: "broker_api" })
  )

const program = placeOrder({ symbol: "AAPL", qty: 10 }).pipe(
  Effect.catchTags({
    CircuitOpenError: (e) => Effect.logWarning(`broker down, retry after ${Duration.format(e.retryAfter)}`),
    BulkheadRejectedError: () => Effect.logWarning("too busy"),
    TimeoutError: () => Effect.logWarning("broker slow")
  }),
  // the seeds' tables, overridable by RESILIENCE_* environment variables or RESILIENCE_CONFIG_JSON
  Effect.provide(Policy.layerConfig)
)

Effect.runPromise(Effect.either(program)).then((result) => console.log(result._tag, result))
