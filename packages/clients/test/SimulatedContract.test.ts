// The simulators refuse as the real providers' fixtures do, so the gateway over them meets the same typed errors.
import { BrokerClient, MarketDataClient, Simulated } from "@effect-resilience/clients"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"

const errorOf = (exit: Exit.Exit<unknown, unknown>): any => Exit.isFailure(exit) ? (exit.cause as any).error : undefined

describe("simulated providers answer with the fixtures' errors", () => {
  it.effect("a range that ends before it starts is a ProviderBadRequestError (Polygon's 400), not retried", () =>
    Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      const exit = yield* Effect.exit(
        client.bars("AAPL", "1h", { from: new Date("2024-01-03T00:00:00Z"), to: new Date("2024-01-02T00:00:00Z") })
      )
      expect(errorOf(exit)).toMatchObject({ _tag: "ProviderBadRequestError", provider: "simulated", status: 400 })
    }).pipe(Effect.provide(Simulated.layer())))

  it.effect("quotes refused for the plan are a ProviderEntitlementError (Polygon's 403 NOT_AUTHORIZED)", () =>
    Effect.gen(function*() {
      const client = yield* MarketDataClient.MarketDataClient
      const faults = yield* Simulated.SimulatedFaults
      expect((yield* client.latestQuote("AAPL")).symbol).toBe("AAPL")
      yield* faults.set({ notEntitled: true })
      expect(errorOf(yield* Effect.exit(client.latestQuote("AAPL")))._tag).toBe("ProviderEntitlementError")
    }).pipe(Effect.provide(Simulated.layer())))

  it.effect("a fractional order without fractional trading is Alpaca's 403 refusal: OrderRejectedError, code 40310000", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const book = yield* Simulated.SimulatedBroker
      const exit = yield* Effect.exit(
        client.placeOrder({ symbol: "AAPL", side: "buy", qty: 0.5, type: "market", timeInForce: "day" })
      )
      expect(errorOf(exit)).toMatchObject({ _tag: "OrderRejectedError", code: 40310000 })
      expect(yield* book.orders).toHaveLength(0)
      const whole = yield* client.placeOrder({
        symbol: "AAPL",
        side: "buy",
        qty: 1,
        type: "market",
        timeInForce: "day"
      })
      expect(whole.status).toBe("filled")
    }).pipe(Effect.provide(Simulated.layer({ fractionalTrading: false }))))
})
