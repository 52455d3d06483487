/**
 * A circuit breaker around a flaky broker API, as in the trading gateway:
 * `service: "trading_gateway", resource: "broker_api"`.
 *
 * The broker's client is promise-based (lifted with `Effect.tryPromise`) and
 * its acknowledgement is parsed synchronously (lifted with `Effect.try`); the
 * breaker wraps both the same way. The simulated broker is down for the first
 * 1.5 seconds: watch the breaker open after 3 failures, reject calls without
 * touching the broker, probe after its reset timeout, and close again.
 *
 * Run: `pnpm exec tsx packages/core/examples/circuitBreaker.ts`
 */
import { CircuitBreaker } from "@effect-resilience/core"
import { Console, Data, Duration, Effect } from "effect"

class BrokerUnavailable extends Data.TaggedError("BrokerUnavailable")<{ readonly cause: unknown }> {}
class MalformedAck extends Data.TaggedError("MalformedAck")<{ readonly cause: unknown }> {}
// A business rejection (the order is invalid): the broker is healthy, so it must not trip the breaker.
class OrderRejected extends Data.TaggedError("OrderRejected")<{ readonly reason: string }> {}

// -- the simulated broker: a promise API, down for the first 1.5 s ------------
const startedAt = Date.now()
let brokerCalls = 0
const brokerApi = {
  placeOrder: (symbol: string, quantity: number): Promise<string> => {
    brokerCalls++
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        if (Date.now() - startedAt < 1_500) reject(new Error("ECONNRESET"))
        else resolve(JSON.stringify({ orderId: `ord-${brokerCalls}`, symbol, quantity, accepted: quantity > 0 }))
      }, 20)
    )
  }
}

// -- the client: promise call + synchronous parse, both through the breaker ---
const placeOrder = (breaker: CircuitBreaker.CircuitBreaker, symbol: string, quantity: number) =>
  Effect.tryPromise({
    try: () => brokerApi.placeOrder(symbol, quantity),
    catch: (cause) => new BrokerUnavailable({ cause })
  }).pipe(
    Effect.flatMap((raw) =>
      Effect.try({
        try: () => JSON.parse(raw) as { orderId: string; accepted: boolean },
        catch: (cause) => new MalformedAck({ cause })
      })
    ),
    Effect.filterOrFail((ack) => ack.accepted, () => new OrderRejected({ reason: "quantity must be positive" })),
    CircuitBreaker.withCircuitBreaker(breaker)
  )

const elapsed = () => `${String(Date.now() - startedAt).padStart(5)} ms`

const program = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({
    service: "trading_gateway",
    resource: "broker_api",
    failureThreshold: 3,
    resetTimeout: "600 millis",
    isFailure: (error) => !(error instanceof OrderRejected),
    // the alerting hook
    onStateChange: (change) =>
      Console.log(`${elapsed()}  ALERT ${change.breaker}: ${change.from} -> ${change.to} (${change.reason})`)
  })

  for (let i = 1; i <= 16; i++) {
    const quantity = i === 14 ? 0 : 10
    const outcome = yield* placeOrder(breaker, "AAPL", quantity).pipe(
      Effect.match({
        onSuccess: (ack) => `filled ${ack.orderId}`,
        onFailure: (error) =>
          error._tag === "CircuitOpenError"
            ? `rejected by the breaker (${error.state}), retry after ${Duration.format(error.retryAfter)}`
            : `failed: ${error._tag}`
      })
    )
    yield* Console.log(`${elapsed()}  call ${String(i).padStart(2)}: ${outcome.padEnd(58)} [${yield* breaker.state}]`)
    yield* Effect.sleep("150 millis")
  }

  const snapshot = yield* breaker.snapshot
  yield* Console.log(
    `\n${snapshot.name}: ${snapshot.state}; ${snapshot.calls} calls (${snapshot.successes} ok, ${snapshot.failures} failed, ` +
      `${snapshot.ignored} ignored), ${snapshot.rejections} rejected, ${snapshot.trips} trip(s); the broker saw ${brokerCalls} calls`
  )
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
