import { Alpaca, BrokerClient, BrokerClients, InteractiveBrokers, Simulated } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { makeServer, type Recorded, type Reply } from "./support/server.js"

const policy = {
  requests: { retry: { maxRetries: 0 } },
  orders: { retry: { maxRetries: 0 } },
  rateLimit: null
} as const

// The session endpoints answered as an authenticated gateway does; the rest by the test.
const session = (handler: (r: Recorded) => Reply) => (r: Recorded): Reply =>
  r.path === "/iserver/auth/status"
    ? { json: { authenticated: true, competing: false, connected: true, message: "" } }
    : r.path === "/iserver/accounts"
    ? { json: { accounts: ["DU123"], selectedAccount: "DU123" } }
    : r.path === "/portfolio/accounts"
    ? { json: [{ id: "DU123", accountId: "DU123" }] }
    : handler(r)

const withIb = <A, E>(
  handler: (r: Recorded) => Reply,
  f: (c: BrokerClient.Service, reqs: Array<Recorded>) => Effect.Effect<A, E>
) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* makeServer(session(handler))
    const client = yield* Effect.provide(
      BrokerClient.BrokerClient,
      InteractiveBrokers.layer({ accountId: "DU123", baseUrl: server.url, policy }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
    )
    return yield* f(client, server.requests)
  }))

const tagOf = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? (exit.cause as any).error?._tag : "success"

describe("InteractiveBrokers", () => {
  it.live("places an order with cOID, answers the confirmation question, reads it back", () => {
    let cOID = ""
    return withIb((r) => {
      if (r.path === "/iserver/secdef/search") {
        return { json: [{ conid: 265598, symbol: "AAPL", companyName: "APPLE INC" }] }
      }
      if (r.method === "POST" && r.path === "/iserver/account/DU123/orders") {
        cOID = JSON.parse(r.body).orders[0].cOID
        return {
          json: [{
            id: "reply-1",
            message: ["You are submitting an order without market data. Are you sure?"],
            isSuppressed: false
          }]
        }
      }
      if (r.method === "POST" && r.path === "/iserver/reply/reply-1") {
        return JSON.parse(r.body).confirmed === true
          ? { json: [{ order_id: "987", order_status: "PreSubmitted" }] }
          : { status: 400 }
      }
      if (r.path === "/iserver/account/orders") {
        return {
          json: {
            orders: [{
              acct: "DU123",
              conid: 265598,
              orderId: 987,
              order_ref: cOID,
              ticker: "AAPL",
              side: "BUY",
              totalSize: 5,
              filledQuantity: 0,
              remainingQuantity: 5,
              price: "189.5",
              orderType: "Limit",
              timeInForce: "DAY",
              status: "PreSubmitted"
            }],
            snapshot: true
          }
        }
      }
      return { status: 500 }
    }, (client, requests) =>
      Effect.gen(function*() {
        const order = yield* client.placeOrder({
          symbol: "AAPL",
          side: "buy",
          qty: 5,
          type: "limit",
          limitPrice: 189.5,
          timeInForce: "day"
        })
        const sent = JSON.parse(requests.find((r) => r.path === "/iserver/account/DU123/orders")!.body).orders[0]
        expect(sent).toMatchObject({
          conid: 265598,
          orderType: "LMT",
          side: "BUY",
          quantity: 5,
          tif: "DAY",
          price: 189.5
        })
        expect(sent.cOID).toBe(order.clientOrderId)
        expect(order).toMatchObject({
          id: "987",
          symbol: "AAPL",
          side: "buy",
          qty: 5,
          type: "limit",
          status: "accepted"
        })
        expect(requests.some((r) => r.path === "/iserver/reply/reply-1")).toBe(true)
        // the read-back's list (under 5 s old) answers: IB paces the orders list at 1 per 5 s
        const open = yield* client.listOpenOrders
        expect(open.map((o) => o.clientOrderId)).toEqual([order.clientOrderId])
        expect(requests.filter((r) => r.path === "/iserver/account/orders")).toHaveLength(1)
      }))
  })

  it.live("positions and account summary; error replies map to typed errors; fok is refused before sending", () =>
    withIb((r) => {
      if (r.path === "/portfolio/DU123/positions/0") {
        return {
          json: [{
            acctId: "DU123",
            conid: 1,
            ticker: "MSFT",
            position: 10,
            avgPrice: 400,
            mktPrice: 410,
            mktValue: 4100,
            unrealizedPnl: 100
          }]
        }
      }
      if (r.path === "/portfolio/DU123/summary") {
        return {
          json: {
            totalcashvalue: { amount: 5000, currency: "USD" },
            buyingpower: { amount: 20000, currency: "USD" },
            netliquidation: { amount: 9100, currency: "USD" }
          }
        }
      }
      if (r.path === "/iserver/secdef/search") {
        return r.query.get("symbol") === "NOPE"
          ? { json: [] }
          : { json: [{ conid: 1 }] }
      }
      if (r.path === "/iserver/account/DU123/orders") {
        const body = JSON.parse(r.body).orders[0]
        return body.quantity > 100
          ? { json: { error: "Order rejected: insufficient margin / equity with loan value" } }
          : { status: 400, json: { error: "Order price exceeds the price cap" } }
      }
      return { status: 500 }
    }, (client, requests) =>
      Effect.gen(function*() {
        expect((yield* client.positions)[0]).toMatchObject({
          symbol: "MSFT",
          qty: 10,
          side: "long",
          avgEntryPrice: 400
        })
        expect(yield* client.account).toMatchObject({ id: "DU123", cash: 5000, buyingPower: 20000, equity: 9100 })
        const base = { symbol: "MSFT", side: "buy", type: "market", timeInForce: "day" } as const
        expect(tagOf(yield* Effect.exit(client.placeOrder({ ...base, qty: 1000 })))).toBe("InsufficientFundsError")
        expect(tagOf(yield* Effect.exit(client.placeOrder({ ...base, qty: 1 })))).toBe("OrderRejectedError")
        expect(tagOf(yield* Effect.exit(client.placeOrder({ ...base, symbol: "NOPE", qty: 1 })))).toBe(
          "UnknownSymbolError"
        )
        const posts = () => requests.filter((r) => r.path === "/iserver/account/DU123/orders").length
        const before = posts()
        expect(tagOf(yield* Effect.exit(client.placeOrder({ ...base, qty: 1, timeInForce: "fok" })))).toBe(
          "OrderRejectedError"
        )
        expect(posts()).toBe(before)
      })))

  it.live("a malformed reply → ProviderDecodeError", () =>
    withIb(() => ({ json: { orders: [{ orderId: 1 }] } }), (client) =>
      Effect.gen(function*() {
        expect(tagOf(yield* Effect.exit(client.listOpenOrders))).toBe("ProviderDecodeError")
      })))
})

describe("BrokerClients", () => {
  it.effect("looks clients up by name, with typed errors for unknown and unconfigured names", () =>
    Effect.gen(function*() {
      const registry = yield* BrokerClients.BrokerClients
      const sim = yield* registry.get("simulated")
      expect(sim.provider).toBe("simulated")
      expect(yield* Effect.exit(registry.get("robinhood")).pipe(Effect.map(tagOf))).toBe("UnknownProviderError")
      expect(yield* Effect.exit(registry.get("interactive_brokers")).pipe(Effect.map(tagOf))).toBe(
        "ProviderNotConfiguredError"
      )
      // configured but its config (keys) is missing
      expect(yield* Effect.exit(registry.get("alpaca")).pipe(Effect.map(tagOf))).toBe("ProviderNotConfiguredError")
      expect(yield* registry.get("simulated")).toBe(sim) // built once
    }).pipe(
      Effect.provide(
        BrokerClients.layer({
          simulated: Simulated.layerBroker().pipe(Layer.provide(Simulated.layerFaults())),
          alpaca: Alpaca.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
        })
      )
    ))
})
