import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { type Patch, type Reply, request, startGateway } from "./utils/gateway.js"

const order = (clientOrderId: string, qty = 1) => ({
  symbol: "SPY",
  side: "buy",
  qty,
  type: "market",
  clientOrderId
})

const post = (url: string, body: unknown) => request(url, "/orders", { method: "POST", body })

const book = (url: string) => Effect.map(request(url, "/admin/broker/book"), (r) => r.body)

// Generous limits: these tests are about orders, not the gateway's own rate limit.
const unlimited: Patch = {
  rateLimit: { tokensPerSecond: 100_000, burstSize: 100_000, globalTokensPerSecond: 0 }
}

describe("idempotent order placement on the client's id", () => {
  it.scopedLive("sequential repeats return the existing order (201 once, then 200 with the same body), never a second", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      const replies: Array<Reply> = []
      for (let i = 0; i < 5; i++) replies.push(yield* post(url, order("seq-1")))
      expect(replies.map((r) => r.status)).toEqual([201, 200, 200, 200, 200])
      for (const r of replies.slice(1)) {
        expect(r.body).toEqual(replies[0]!.body)
        expect(r.headers.get("idempotent-replayed")).toBe("true")
      }
      expect(replies[0]!.headers.get("idempotent-replayed")).toBeNull()
      const b = yield* book(url)
      expect(b).toMatchObject({ orders: 1, duplicates: 0, duplicatesRejected: 0 })
      expect(b.calls.submitOrder).toBe(1)
    }))

  it.scopedLive("the same id with a different order is 409 ClientOrderIdConflict, and nothing is placed", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      expect((yield* post(url, order("conflict-1", 1))).status).toBe(201)
      const conflict = yield* post(url, order("conflict-1", 2))
      expect(conflict.status).toBe(409)
      expect(conflict.body).toMatchObject({ _tag: "ClientOrderIdConflict", clientOrderId: "conflict-1" })
      const otherSide = yield* post(url, { ...order("conflict-1"), side: "sell" })
      expect(otherSide.status).toBe(409)
      expect(yield* book(url)).toMatchObject({ orders: 1, duplicates: 0 })
    }))

  it.scopedLive("two simultaneous requests with one id make one order at the broker (single-flight per id)", () =>
    Effect.gen(function*() {
      const url = yield* startGateway(unlimited)
      // latency keeps the first placement in flight while its twin arrives
      yield* request(url, "/admin/faults", { method: "POST", body: { target: "broker", kind: "latency", millis: 100 } })
      const pairs = yield* Effect.forEach(
        Array.from({ length: 5 }, (_, i) => `pair-${i}`),
        (id) => Effect.all([post(url, order(id)), post(url, order(id))], { concurrency: 2 }),
        { concurrency: 5 }
      )
      for (const [a, b] of pairs) {
        expect([a.status, b.status].sort()).toEqual([200, 201])
        expect(a.body).toEqual(b.body)
      }
      const b = yield* book(url)
      expect(b).toMatchObject({ orders: 5, duplicates: 0, duplicatesRejected: 0 })
      expect(b.calls.submitOrder).toBe(5)
    }))

  it.scopedLive("a reply lost by the client: the placement finishes anyway, and the retry gets that order", () =>
    Effect.gen(function*() {
      const url = yield* startGateway({ ...unlimited, simulated: { timeout: Duration.seconds(3) } })
      yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "broker", kind: "latency", millis: 1_500 }
      })
      // the client gives up long before the broker answers
      const lost = yield* Effect.promise(() =>
        fetch(url + "/orders", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(order("lost-1")),
          signal: AbortSignal.timeout(200)
        }).then((r) => r.status, (e: unknown) => String(e))
      )
      expect(lost).toMatch(/TimeoutError|AbortError/)
      // the retry joins the placement still in flight (or finds it done): one order
      const retried = yield* post(url, order("lost-1"))
      expect(retried.status).toBe(200)
      expect(retried.body.clientOrderId).toBe("lost-1")
      expect(yield* book(url)).toMatchObject({ orders: 1, duplicates: 0, duplicatesRejected: 0 })
    }))

  it.scopedLive(
    "1,000 POSTs carrying 500 ids, each sent twice concurrently, some under timeout-after-accept: exactly 500 orders",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({
          ...unlimited,
          simulated: { timeout: Duration.millis(150), resetTimeout: Duration.millis(300) }
        })
        yield* request(url, "/admin/faults", {
          method: "POST",
          body: { target: "broker", kind: "timeout-after-accept", rate: 0.2, millis: 1_000 }
        })
        let sent = 0
        const statuses = new Map<number, number>()
        // A careful client: an answer that is not final (503, 504, 429) is retried with the same id.
        const placePair = (id: string): Effect.Effect<readonly [Reply, Reply]> =>
          Effect.gen(function*() {
            while (true) {
              const pair = yield* Effect.all([post(url, resting(id)), post(url, resting(id))], { concurrency: 2 })
              sent += 2
              for (const r of pair) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
              if (pair.every((r) => r.status === 200 || r.status === 201)) return pair
              for (const r of pair) expect([200, 201, 429, 503, 504], JSON.stringify(r.body)).toContain(r.status)
              yield* Effect.sleep("100 millis")
            }
          })
        // resting limit orders: no fill, so cash never runs out whatever the order of placement
        const resting = (id: string) => ({ ...order(id), type: "limit", limitPrice: 1 })
        const ids = Array.from({ length: 500 }, (_, i) => `bulk-${i}`)
        const pairs = yield* Effect.forEach(ids, placePair, { concurrency: 8 })
        expect(sent).toBeGreaterThanOrEqual(1_000)
        const orderIds = new Set<string>()
        pairs.forEach(([a, b], i) => {
          expect(a.body).toEqual(b.body)
          expect(a.body.clientOrderId).toBe(ids[i])
          orderIds.add(a.body.id)
        })
        expect(orderIds.size).toBe(500)
        const b = yield* book(url)
        expect(b).toMatchObject({ orders: 500, distinctClientOrderIds: 500, duplicates: 0, duplicatesRejected: 0 })
        // the fault fired: replies were lost and resolved by lookups
        expect(b.calls.getOrderByClientOrderId).toBeGreaterThan(0)
      }),
    120_000
  )
})
