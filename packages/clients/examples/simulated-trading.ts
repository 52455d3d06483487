/**
 * Place an order and read a quote against the simulated providers, with a
 * burst of 429s and lost replies injected at run time. No keys needed.
 *
 * Run: pnpm exec tsx packages/clients/examples/simulated-trading.ts
 */
import { BrokerClient, MarketDataClient, Simulated } from "@effect-resilience/clients"
import { Duration, Effect } from "effect"

const program = Effect.gen(function*() {
  const broker = yield* BrokerClient.BrokerClient
  const data = yield* MarketDataClient.MarketDataClient
  const faults = yield* Simulated.SimulatedFaults

  const quote = yield* data.latestQuote("AAPL")
  yield* Effect.log(`AAPL ${quote.bid} / ${quote.ask}`)

  // The next two calls get a 429 (retried after Retry-After), and the order's reply is lost after booking
  // (resolved by a lookup of its client order id, never a second order).
  yield* faults.rateLimitBurst(2, Duration.millis(200))
  yield* faults.set({ timeoutAfterAcceptRate: 1, hangFor: Duration.seconds(60) })
  const order = yield* broker.placeOrder({ symbol: "AAPL", side: "buy", qty: 10, type: "market", timeInForce: "day" })
  yield* Effect.log(`placed ${order.id} (${order.clientOrderId}): ${order.status}`)
  yield* faults.reset

  const book = yield* Simulated.SimulatedBroker
  yield* Effect.log(`orders at the broker: ${(yield* book.orders).length}`)
})

program.pipe(
  Effect.provide(
    Simulated.layer({
      // a short order timeout so the lost reply resolves in seconds
      policy: { orders: { timeout: Duration.seconds(1), retry: { baseDelay: Duration.millis(100) } } }
    })
  ),
  Effect.runPromise
)
