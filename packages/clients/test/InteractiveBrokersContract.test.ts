// IB against a fake Client Portal Gateway that serves the fixtures' bodies (test/fixtures/interactive_brokers.json)
// and enforces IB's documented rules: pacing per endpoint and globally (a violation answers 429 and puts the
// client in a 10-minute penalty box), the session and its prerequisite calls, one placement at a time, tif.
// Time is the TestClock: the pacing windows are real (5 s, 1 s) and cost no real seconds.
import { BrokerClient, InteractiveBrokers } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, TestClock } from "effect"
import { makeIbFake } from "./support/fakes.js"
import { drive, inProcess, load } from "./support/fixtures.js"
import { makeServer } from "./support/server.js"

const tagOf = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? (exit.cause as any).error?._tag : "success"

// The client, its layer built in the test's scope (so its tickle fiber lives as long as the test).
const ibClient = (
  fake: ReturnType<typeof makeIbFake>,
  policy: InteractiveBrokers.Options["policy"] = {
    requests: { retry: { maxRetries: 0 } },
    orders: { retry: { maxRetries: 0 } }
  }
) =>
  Effect.map(
    Layer.build(
      InteractiveBrokers.layer({ accountId: "DU123", baseUrl: "http://ib.test/v1/api", policy }).pipe(
        Layer.provide(inProcess((r, now) => fake.handle({ ...r, path: r.path.replace(/^\/v1\/api/, "") }, now)))
      )
    ),
    (context) => Context.get(context, BrokerClient.BrokerClient)
  )

const order = { symbol: "AAPL", side: "buy", qty: 5, type: "limit", limitPrice: 189.5, timeInForce: "day" } as const

describe("IB contract fixtures", () => {
  it("every fixture names the documentation page it comes from", () => {
    for (const [name, f] of Object.entries(load("interactive_brokers").fixtures)) {
      expect(f.source, name).toMatch(/^https:\/\//)
      expect(f.provenance, name).not.toBe("")
    }
  })

  it.live("over loopback: session, placement with a question, read-back; fixtures decode to the right values", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = makeIbFake()
      fake.questions = true
      const server = yield* makeServer((r) => fake.handle(r, Date.now()))
      const client = yield* Effect.provide(
        BrokerClient.BrokerClient,
        InteractiveBrokers.layer({
          accountId: "DU123",
          baseUrl: server.url,
          policy: { requests: { retry: { maxRetries: 0 } }, orders: { retry: { maxRetries: 0 } } }
        }).pipe(Layer.provide(FetchHttpClient.layer))
      )
      const placed = yield* client.placeOrder(order)
      expect(placed).toMatchObject({
        id: "1000001",
        clientOrderId: placed.clientOrderId,
        symbol: "AAPL",
        side: "buy",
        qty: 5,
        type: "limit",
        limitPrice: 189.5,
        timeInForce: "day", // IB lists a DAY order as "CLOSE"
        status: "accepted",
        brokerStatus: "Submitted",
        filledQty: 0
      })
      expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET /iserver/auth/status",
        "GET /iserver/accounts",
        "GET /portfolio/accounts",
        "GET /iserver/secdef/search",
        "POST /iserver/account/DU123/orders",
        "POST /iserver/reply/07a13a5a-4a48-44a5-bb25-5ab37b79186c",
        "GET /iserver/account/orders"
      ])
      expect(fake.violations).toEqual([])
      expect(tagOf(yield* Effect.exit(client.placeOrder({ ...order, symbol: "NOPE" })))).toBe("UnknownSymbolError")
    })))

  it.scoped("rejections, funds and a partially filled stop-limit decode from their fixtures", () => {
    const fake = makeIbFake()
    const original = fake.handle
    let answer: string | undefined
    const patched = {
      ...fake,
      handle: (r: any, now: number) => {
        if (answer !== undefined && r.method === "POST" && r.path === "/iserver/account/DU123/orders") {
          const body = load("interactive_brokers").fixtures[answer]!.response.body
          return { json: body }
        }
        if (answer === "list" && r.path === "/iserver/account/orders") {
          return {
            json: load("interactive_brokers").fixtures["orders.list.stop_limit_filled_partially"]!.response.body
          }
        }
        return original(r, now)
      }
    }
    return Effect.gen(function*() {
      const client = yield* ibClient(patched as any)
      answer = "orders.place.rejected"
      const rejected = yield* drive(Effect.exit(client.placeOrder(order)))
      expect(tagOf(rejected)).toBe("OrderRejectedError")
      expect((rejected as any).cause.error.reason).toContain("limit price")
      answer = "orders.place.margin"
      expect(tagOf(yield* drive(Effect.exit(client.placeOrder(order))))).toBe("InsufficientFundsError")
      answer = "list"
      const [stop] = yield* drive(client.listOpenOrders)
      expect(stop).toMatchObject({
        id: "99",
        clientOrderId: "stp-1",
        side: "sell",
        type: "stop_limit",
        timeInForce: "gtc",
        status: "partially_filled",
        qty: 5,
        filledQty: 2,
        filledAvgPrice: 181.2
      })
      expect(InteractiveBrokers.isDuplicateOrderIdMessage(
        "Order couldn't be submitted: Local order ID=er-1 is already registered."
      )).toBe(true)
      expect(fake.violations).toEqual([])
    })
  })
})

describe("IB pacing", () => {
  it.scoped("100 concurrent callers (reads, lookups, placements): no request is ever answered 429", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      const client = yield* ibClient(fake, {
        requests: { retry: { maxRetries: 0 }, bulkhead: null, timeout: null },
        orders: { retry: { maxRetries: 0 }, bulkhead: null, timeout: null }
      })
      const calls = Array.from({ length: 100 }, (_, i) => {
        switch (i % 5) {
          case 0:
            return Effect.asVoid(client.placeOrder({ ...order, clientOrderId: `c-${i}` }))
          case 1:
            return Effect.asVoid(client.listOpenOrders)
          case 2:
            return Effect.asVoid(client.getOrderByClientOrderId(`c-${i - 2}`))
          case 3:
            return Effect.asVoid(client.account)
          default:
            return Effect.asVoid(client.positions)
        }
      })
      const exits = yield* drive(Effect.forEach(calls, Effect.exit, { concurrency: "unbounded" }))
      expect(exits.filter(Exit.isFailure).map((e) => (e as any).cause.toString())).toEqual([])
      expect(fake.throttled()).toBe(0)
      expect(fake.violations).toEqual([])
      expect(fake.booked()).toBe(20)
      // the shared list: far fewer than the 40 callers that read it
      const lists = fake.requests.filter((r) => r.path === "/iserver/account/orders")
      expect(lists.length).toBeLessThan(40)
      for (let i = 1; i < lists.length; i++) expect(lists[i]!.at - lists[i - 1]!.at).toBeGreaterThanOrEqual(5000)
    }))

  it.scoped("an order accepted while the read-back is paced is reported placed, exactly once", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      const client = yield* ibClient(fake)
      // the orders list was just read: the read-back after placing must wait its 5 s
      yield* drive(client.listOpenOrders)
      const placed = yield* drive(client.placeOrder({ ...order, clientOrderId: "paced-1" }))
      expect(placed).toMatchObject({ clientOrderId: "paced-1", status: "accepted", id: "1000001" })
      expect(fake.booked()).toBe(1)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/orders"))).toHaveLength(1)
      expect(fake.throttled()).toBe(0)
      expect(fake.violations).toEqual([])
      // a read-back that fails is not a failed placement: the order is reported from what was sent, once
      fake.listFails = true
      const second = yield* drive(client.placeOrder({ ...order, clientOrderId: "paced-2" }))
      expect(second).toMatchObject({ clientOrderId: "paced-2", status: "accepted", id: "1000002" })
      expect(fake.booked()).toBe(2)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/orders"))).toHaveLength(2)
      expect(fake.violations).toEqual([])
    }))

  it.scoped("an in-doubt order resent with its cOID is resolved by lookup, never reported as rejected", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      fake.loseNextReply = true // booked, then 502
      fake.listLag = 8_000 // and IB lists it only 8 s later
      const client = yield* ibClient(fake, {
        requests: { retry: { maxRetries: 0 } },
        orders: { retry: { maxRetries: 3, baseDelay: Duration.seconds(1), jitter: "none" } }
      })
      const placed = yield* drive(client.placeOrder({ ...order, clientOrderId: "doubt-1" }))
      expect(placed).toMatchObject({ clientOrderId: "doubt-1", id: "1000001" })
      const posts = fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/orders"))
      expect(posts.length).toBeGreaterThanOrEqual(2) // resent with the same cOID: IB answered "already registered"
      expect(fake.booked()).toBe(1)
      expect(fake.violations).toEqual([])
      expect(fake.throttled()).toBe(0)
    }))

  it.scoped("fok is refused before anything is sent; GTC / OPG / DAY / IOC go out", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      const client = yield* ibClient(fake)
      const fok = yield* drive(Effect.exit(client.placeOrder({ ...order, timeInForce: "fok" })))
      expect(tagOf(fok)).toBe("OrderRejectedError")
      expect((fok as any).cause.error.reason).toContain("GTC, OPG, DAY, IOC")
      for (const timeInForce of ["gtc", "opg", "ioc"] as const) {
        yield* drive(client.placeOrder({ ...order, timeInForce }))
      }
      expect(fake.booked()).toBe(3)
      expect(fake.violations).toEqual([])
    }))
})

describe("IB session", () => {
  it.scoped("keeps the session alive with /tickle about every minute while the layer lives", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      yield* ibClient(fake)
      yield* TestClock.adjust("61 seconds")
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust("60 seconds")
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(fake.requests.filter((r) => r.path === "/tickle").length).toBe(2)
      expect(fake.violations).toEqual([])
    }))

  it.scoped("a session expiring mid-run is re-established (ssodh/init, prerequisites) and the call succeeds", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      const client = yield* ibClient(fake)
      expect((yield* drive(client.account)).equity).toBe(9100)
      fake.authenticated = false
      expect((yield* drive(client.account)).equity).toBe(9100)
      const paths = fake.requests.map((r) => r.path)
      expect(paths.filter((p) => p === "/iserver/auth/ssodh/init")).toHaveLength(1)
      expect(paths.filter((p) => p === "/iserver/accounts")).toHaveLength(2)
      expect(fake.violations).toEqual([])
    }))

  it.scoped("a session that cannot be re-established fails with SessionExpiredError, without retries", () =>
    Effect.gen(function*() {
      const fake = makeIbFake()
      const client = yield* ibClient(fake, {
        requests: { retry: { maxRetries: 3 } },
        orders: { retry: { maxRetries: 3 } }
      })
      yield* drive(client.positions)
      fake.authenticated = false
      fake.canReauthenticate = false
      const before = fake.requests.length
      const exit = yield* drive(Effect.exit(client.positions))
      expect(tagOf(exit)).toBe("SessionExpiredError")
      // one 401, one status check, one init, one more status check: no retry loop
      expect(fake.requests.slice(before).map((r) => r.path)).toEqual([
        "/portfolio/DU123/positions/0",
        "/iserver/auth/status",
        "/iserver/auth/ssodh/init",
        "/iserver/auth/status"
      ])
    }))
})
