// Alpaca against a loopback server that answers with the fixtures' bodies (test/fixtures/alpaca.json).
import { Alpaca, BrokerClient } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted } from "effect"
import { load, reply } from "./support/fixtures.js"
import { makeServer } from "./support/server.js"

const errorOf = (exit: Exit.Exit<unknown, unknown>): any => Exit.isFailure(exit) ? (exit.cause as any).error : undefined

const withFixture = <A, E>(name: () => string, f: (client: BrokerClient.Service) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* makeServer(() => reply("alpaca", name(), { resetSeconds: 1 }))
    const client = yield* Effect.provide(
      BrokerClient.BrokerClient,
      Alpaca.layer({
        keyId: Redacted.make("k"),
        secretKey: Redacted.make("s"),
        baseUrl: server.url,
        policy: { requests: { retry: { maxRetries: 0 } }, orders: { retry: { maxRetries: 0 } }, rateLimit: null }
      }).pipe(Layer.provide(FetchHttpClient.layer))
    )
    return yield* f(client)
  }))

const order = { symbol: "AAPL", side: "buy", qty: 5, type: "market", timeInForce: "day" } as const

describe("Alpaca contract fixtures", () => {
  it("every fixture names its source", () => {
    for (const [name, f] of Object.entries(load("alpaca").fixtures)) expect(f.source, name).toMatch(/^https:\/\//)
  })

  it.live("each 403 family maps as documented: buying power → funds; order rules → OrderRejectedError with code; bare 403 → authentication", () => {
    let current = ""
    return withFixture(() => current, (client) =>
      Effect.gen(function*() {
        const expectations: ReadonlyArray<readonly [string, string, number | undefined]> = [
          ["403.insufficient_buying_power", "InsufficientFundsError", undefined],
          ["403.pattern_day_trading", "OrderRejectedError", 40310100],
          ["403.wash_trade", "OrderRejectedError", 40310000],
          ["403.opg_window", "OrderRejectedError", 40310000],
          ["403.fractional_disabled", "OrderRejectedError", 40310000],
          ["403.insufficient_qty", "OrderRejectedError", 40310000],
          ["403.opposite_side_open", "OrderRejectedError", 40310000],
          ["403.not_allowed_to_short", "OrderRejectedError", 40310000],
          ["403.forbidden_key", "AuthenticationError", undefined],
          ["401.unauthorized", "AuthenticationError", undefined],
          ["422.qty_integer", "OrderRejectedError", 40010001],
          ["422.wash_trade", "OrderRejectedError", 42210000],
          ["429.rate_limit", "ProviderRateLimitedError", undefined]
        ]
        for (const [name, tag, code] of expectations) {
          current = name
          const error = errorOf(yield* Effect.exit(client.placeOrder(order)))
          expect(error?._tag, name).toBe(tag)
          if (code !== undefined) expect(error.code, name).toBe(code)
          const message = (load("alpaca").fixtures[name]!.response.body as { message: string }).message
          if (tag !== "ProviderRateLimitedError") expect(error.reason, name).toBe(message)
        }
      }))
  })

  it.live("order types and statuses decode faithfully: stop, stop_limit, trailing_stop; done_for_day stays open", () => {
    let current = ""
    return withFixture(() => current, (client) =>
      Effect.gen(function*() {
        const decode = (name: string) => {
          current = name
          return client.getOrder("x")
        }
        // The reference's example sends qty as a JSON number; recorded bodies send strings ("5"): both decode.
        expect(yield* decode("order.market.accepted")).toMatchObject({ type: "market", status: "accepted", qty: 1 })
        expect(yield* decode("order.limit.new")).toMatchObject({
          type: "limit",
          limitPrice: 189.5,
          status: "accepted",
          brokerStatus: "new"
        })
        expect(yield* decode("order.stop.accepted")).toMatchObject({ type: "stop", stopPrice: 180, side: "sell" })
        expect(yield* decode("order.stop_limit.gtc")).toMatchObject({
          type: "stop_limit",
          stopPrice: 180,
          limitPrice: 179.5,
          timeInForce: "gtc"
        })
        expect(yield* decode("order.trailing_stop.percent")).toMatchObject({
          type: "trailing_stop",
          trailPercent: 1.5,
          stopPrice: 192.17
        })
        expect(yield* decode("order.gtc.done_for_day")).toMatchObject({
          status: "accepted",
          brokerStatus: "done_for_day",
          timeInForce: "gtc",
          filledQty: 2
        })
        expect(yield* decode("order.pending_cancel")).toMatchObject({
          status: "accepted",
          brokerStatus: "pending_cancel"
        })
        expect(yield* decode("order.opg.expired")).toMatchObject({ status: "expired", timeInForce: "opg" })
        expect(yield* decode("order.held")).toMatchObject({ status: "pending", brokerStatus: "held", type: "stop" })
      }))
  })
})
