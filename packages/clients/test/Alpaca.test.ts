import { Alpaca, BrokerClient } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Option, Redacted, TestClock } from "effect"
import { makeServer, type Recorded, type Reply } from "./support/server.js"

const alpacaOrder = (body: Record<string, unknown>, id = "ord-1") => ({
  id,
  client_order_id: body.client_order_id,
  created_at: "2024-01-02T15:00:00Z",
  submitted_at: "2024-01-02T15:00:00Z",
  symbol: body.symbol,
  side: body.side,
  type: body.type,
  order_type: body.type,
  qty: body.qty,
  filled_qty: "0",
  filled_avg_price: null,
  limit_price: body.limit_price ?? null,
  time_in_force: body.time_in_force,
  status: "accepted"
})

// No retries and no quota wait unless a test asks: each call is one request.
const noRetry = {
  requests: { retry: { maxRetries: 0 } },
  orders: { retry: { maxRetries: 0 } },
  rateLimit: null
} as const

const clientFor = (url: string, policy: Alpaca.Options["policy"] = noRetry) =>
  Alpaca.layer({
    keyId: Redacted.make("key-id"),
    secretKey: Redacted.make("secret"),
    baseUrl: url,
    policy
  }).pipe(Layer.provide(FetchHttpClient.layer))

const withClient = <A, E>(
  handler: (r: Recorded) => Reply,
  f: (client: BrokerClient.Service, requests: Array<Recorded>) => Effect.Effect<A, E>,
  policy?: Alpaca.Options["policy"]
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const server = yield* makeServer(handler)
      const client = yield* Effect.provide(BrokerClient.BrokerClient, clientFor(server.url, policy))
      return yield* f(client, server.requests)
    })
  )

describe("Alpaca", () => {
  it.live("places an order with the auth headers and a client order id", () =>
    withClient(
      (r) =>
        r.method === "POST" && r.path === "/v2/orders" ? { json: alpacaOrder(JSON.parse(r.body)) } : { status: 500 },
      (client, requests) =>
        Effect.gen(function*() {
          const order = yield* client.placeOrder({
            symbol: "AAPL",
            side: "buy",
            qty: 10,
            type: "limit",
            limitPrice: 190.5,
            timeInForce: "day"
          })
          expect(requests).toHaveLength(1)
          const sent = JSON.parse(requests[0]!.body)
          expect(requests[0]!.headers["apca-api-key-id"]).toBe("key-id")
          expect(requests[0]!.headers["apca-api-secret-key"]).toBe("secret")
          expect(sent).toMatchObject({
            symbol: "AAPL",
            qty: "10",
            side: "buy",
            type: "limit",
            limit_price: "190.5",
            time_in_force: "day"
          })
          expect(sent.client_order_id).toMatch(/^er-[0-9a-f]{32}$/)
          expect(order.clientOrderId).toBe(sent.client_order_id)
          expect(order.status).toBe("accepted")
          expect(order.limitPrice).toBe(190.5)
        })
    ))

  it.live("reads account, positions, and orders by client order id (404 is None)", () =>
    withClient(
      (r) => {
        if (r.path === "/v2/account") {
          return {
            json: { id: "acc", currency: "USD", cash: "1000.5", buying_power: "2000", equity: "1500", status: "ACTIVE" }
          }
        }
        if (r.path === "/v2/positions") {
          return {
            json: [{
              symbol: "TSLA",
              qty: "-3",
              side: "short",
              avg_entry_price: "200",
              market_value: "-630",
              unrealized_pl: "-30",
              current_price: "210"
            }]
          }
        }
        if (r.path === "/v2/orders:by_client_order_id") {
          return r.query.get("client_order_id") === "known"
            ? {
              json: alpacaOrder({
                client_order_id: "known",
                symbol: "AAPL",
                side: "buy",
                type: "market",
                qty: "1",
                time_in_force: "day"
              })
            }
            : { status: 404, json: { code: 40410000, message: "order not found" } }
        }
        return { status: 500 }
      },
      (client) =>
        Effect.gen(function*() {
          const account = yield* client.account
          expect(account).toMatchObject({ cash: 1000.5, buyingPower: 2000, equity: 1500, currency: "USD" })
          const [position] = yield* client.positions
          expect(position).toMatchObject({ symbol: "TSLA", qty: -3, side: "short", avgEntryPrice: 200 })
          expect(Option.isSome(yield* client.getOrderByClientOrderId("known"))).toBe(true)
          expect(Option.isNone(yield* client.getOrderByClientOrderId("unknown"))).toBe(true)
        })
    ))

  const errorCase = (reply: Reply, tag: string, check?: (error: any) => void) =>
    withClient(() => reply, (client) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          client.placeOrder({ symbol: "AAPL", side: "buy", qty: 1, type: "market", timeInForce: "day" })
        )
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? (exit.cause as any).error : undefined
        expect(error?._tag).toBe(tag)
        check?.(error)
      }))

  it.live("403 insufficient buying power → InsufficientFundsError", () =>
    errorCase(
      { status: 403, json: { code: 40310000, message: "insufficient buying power" } },
      "InsufficientFundsError"
    ))
  it.live("422 → OrderRejectedError", () =>
    errorCase({ status: 422, json: { code: 40010001, message: "qty must be > 0" } }, "OrderRejectedError"))
  it.live("422 asset not found → UnknownSymbolError", () =>
    errorCase({ status: 422, json: { code: 40010001, message: "asset \"AAPL\" not found" } }, "UnknownSymbolError"))
  it.live("401 → AuthenticationError", () =>
    errorCase({ status: 401, json: { code: 40110000, message: "request is not authorized" } }, "AuthenticationError"))
  it.live("429 with Retry-After → ProviderRateLimitedError carrying it", () =>
    errorCase(
      { status: 429, headers: { "retry-after": "7" }, json: { code: 42910000, message: "rate limit exceeded" } },
      "ProviderRateLimitedError",
      (e) => expect(Duration.toMillis(e.retryAfter)).toBe(7000)
    ))
  it.live("malformed body → ProviderDecodeError", () =>
    errorCase({ status: 200, json: { id: 42 } }, "ProviderDecodeError"))
  it.live("non-JSON body → ProviderDecodeError", () =>
    errorCase({ status: 200, text: "<html>oops" }, "ProviderDecodeError"))

  it.live("an ambiguous 502 after the broker booked the order is resolved by lookup, not a resend", () => {
    const booked: Array<Record<string, unknown>> = []
    return withClient(
      (r) => {
        if (r.method === "POST") {
          booked.push(JSON.parse(r.body))
          return { status: 502, text: "Bad Gateway" }
        }
        if (r.path === "/v2/orders:by_client_order_id") {
          const found = booked.find((b) => b.client_order_id === r.query.get("client_order_id"))
          return found
            ? { json: alpacaOrder(found) }
            : { status: 404, json: { code: 40410000, message: "order not found" } }
        }
        return { status: 500 }
      },
      (client, requests) =>
        Effect.gen(function*() {
          const order = yield* client.placeOrder({
            symbol: "AAPL",
            side: "buy",
            qty: 1,
            type: "market",
            timeInForce: "day"
          })
          expect(booked).toHaveLength(1)
          expect(order.clientOrderId).toBe(booked[0]!.client_order_id)
          expect(requests.filter((r) => r.method === "POST")).toHaveLength(1)
        }),
      { ...noRetry, orders: { retry: { maxRetries: 3, baseDelay: Duration.millis(1), maxDelay: Duration.millis(2) } } }
    )
  })

  it.effect("outage: the breaker opens after 3 failures, fails fast without reaching the server, probes after the reset timeout, recovers", () => {
    let healthy = false
    return withClient(
      () =>
        healthy
          ? { json: { id: "acc", currency: "USD", cash: "1", buying_power: "1", equity: "1", status: "ACTIVE" } }
          : { status: 503, json: { code: 50300000, message: "service unavailable" } },
      (client, requests) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            const exit = yield* Effect.exit(client.account)
            expect(Exit.isFailure(exit) && (exit.cause as any).error._tag).toBe("ProviderUnavailableError")
          }
          expect(requests).toHaveLength(3)
          for (let i = 0; i < 5; i++) {
            const exit = yield* Effect.exit(client.account)
            expect(Exit.isFailure(exit) && (exit.cause as any).error._tag).toBe("CircuitOpenError")
          }
          expect(requests).toHaveLength(3) // failed fast: nothing reached the server
          healthy = true
          yield* TestClock.adjust("9 seconds")
          const stillOpen = yield* Effect.exit(client.account)
          expect(Exit.isFailure(stillOpen) && (stillOpen.cause as any).error._tag).toBe("CircuitOpenError")
          yield* TestClock.adjust("1 second")
          const probe = yield* client.account // the half-open probe
          expect(probe.id).toBe("acc")
          expect(requests).toHaveLength(4)
          yield* client.account
          yield* client.account
          expect(requests).toHaveLength(6) // closed again
        }),
      {
        ...noRetry,
        requests: { retry: { maxRetries: 0 }, breaker: { failureThreshold: 3, resetTimeout: Duration.seconds(10) } }
      }
    )
  })
})
