import { Models, Simulated } from "@effect-resilience/clients"
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as ResilienceConfig from "@effect-resilience/core/ResilienceConfig"
import { OrderIdempotency, Providers } from "@effect-resilience/gateway"
import * as StatusSources from "@effect-resilience/http/StatusSources"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, FastCheck as fc, Fiber, Layer, Logger, LogLevel, Scope } from "effect"

// The simulated broker with the gateway's demo timings, made short: attempts time out after 40 ms.
const broker = (faults: Partial<Simulated.Faults>) =>
  Simulated.layerBroker({
    policy: Providers.simulatedPolicies({
      seed: 1,
      resetTimeout: Duration.millis(50),
      timeout: Duration.millis(20)
    }).broker
  }).pipe(
    Layer.provideMerge(Simulated.layerFaults(faults)),
    Layer.provide(Layer.mergeAll(CircuitBreakerRegistry.layer, StatusSources.layer, ResilienceConfig.layerConfig)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

const request = (id: number, qty: number) =>
  new Models.OrderRequest({
    symbol: "SPY",
    side: "buy",
    qty,
    type: "limit",
    limitPrice: 1,
    timeInForce: "day",
    clientOrderId: `id-${id}`
  })

describe("OrderIdempotency", () => {
  it.scopedLive.prop(
    "random concurrent requests, lost replies and impatient clients: at most one order per id, one answer per id",
    {
      calls: fc.array(
        fc.record({
          id: fc.integer({ min: 0, max: 7 }),
          // mostly the same order under an id, sometimes another one (a conflict)
          qty: fc.oneof({ arbitrary: fc.constant(1), weight: 5 }, { arbitrary: fc.constant(2), weight: 1 }),
          delay: fc.integer({ min: 0, max: 60 }),
          // a client that gives up after this many ms (its fiber is interrupted)
          patience: fc.option(fc.integer({ min: 0, max: 80 }), { freq: 3 })
        }),
        { minLength: 1, maxLength: 60 }
      ),
      lostReplies: fc.constantFrom(0, 0.3, 0.7)
    },
    ({ calls, lostReplies }) =>
      Effect.gen(function*() {
        const book = yield* Simulated.SimulatedBroker
        const service = yield* OrderIdempotency.make({ maxIds: 100 })
        const outcomes = yield* Effect.forEach(
          calls,
          (call) =>
            Effect.sleep(Duration.millis(call.delay)).pipe(
              Effect.zipRight(service.place(request(call.id, call.qty))),
              (placed) => call.patience === null ? placed : Effect.timeout(placed, Duration.millis(call.patience)),
              Effect.exit,
              Effect.map((exit) => ({ call, exit }))
            ),
          { concurrency: "unbounded" }
        )
        // let the placements whose clients gave up finish (lost replies hang 100 ms, then a lookup)
        yield* Effect.sleep("600 millis")

        const orders = yield* book.orders
        const byId = new Map<string, Array<Models.Order>>()
        for (const o of orders) byId.set(o.clientOrderId, [...(byId.get(o.clientOrderId) ?? []), o])
        for (const [id, list] of byId) expect(list.length, id).toBe(1)
        expect(yield* book.duplicatesRejected).toBe(0)

        for (const { call, exit } of outcomes) {
          if (Exit.isFailure(exit)) continue
          const order = (exit.value as OrderIdempotency.Placed).order
          // every answer for an id is the one order the broker holds for it, and it is the order asked for
          const held = byId.get(`id-${call.id}`) ?? []
          expect(held.length, `id-${call.id}: orders the broker holds`).toBe(1)
          expect(order.id).toBe(held[0]!.id)
          expect(order.qty).toBe(call.qty)
        }
        expect(yield* service.size).toBeLessThanOrEqual(100)
      }).pipe(
        Effect.provide(broker({ timeoutAfterAcceptRate: lostReplies, hangFor: Duration.millis(100) }))
      ),
    { timeout: 120_000, fastCheck: { numRuns: 25 } }
  )

  it.scopedLive("a placement its scope interrupts (shutdown) answers OrderStatusUnknown, and the id stays in doubt", () =>
    Effect.gen(function*() {
      const book = yield* Simulated.SimulatedBroker
      const scope = yield* Scope.make()
      const service = yield* Effect.provideService(OrderIdempotency.make({}), Scope.Scope, scope)
      const waiter = yield* Effect.fork(service.place(request(1, 1)))
      yield* Effect.sleep("20 millis") // the broker is slow (latency): the placement is in flight
      yield* Scope.close(scope, Exit.void)
      const failure = yield* Effect.flip(Fiber.join(waiter))
      expect(failure._tag).toBe("OrderStatusUnknown")
      // a placement after the shutdown: the scope is closed, the waiter is still answered
      const late = yield* Effect.flip(service.place(request(2, 1)))
      expect(late._tag).toBe("OrderStatusUnknown")
      expect((yield* book.orders).length).toBeLessThanOrEqual(1)
    }).pipe(Effect.provide(broker({ latency: { ...Simulated.noFaults.latency, base: Duration.millis(200) } }))))

  it.scopedLive("remembers at most maxIds ids; a forgotten id is still placed once (the broker's duplicate check)", () =>
    Effect.gen(function*() {
      const book = yield* Simulated.SimulatedBroker
      const service = yield* OrderIdempotency.make({ maxIds: 10 })
      for (let i = 0; i < 50; i++) yield* service.place(request(i, 1))
      expect(yield* service.size).toBeLessThanOrEqual(10)
      // id-0 was forgotten long ago: placed again, the broker refuses it and the client finds the order it holds
      const again = yield* service.place(request(0, 1))
      expect(again.order.clientOrderId).toBe("id-0")
      expect((yield* book.orders).filter((o) => o.clientOrderId === "id-0")).toHaveLength(1)
      expect(yield* book.duplicatesRejected).toBe(1)
      // and a forgotten id with another order is still refused
      const conflict = yield* Effect.flip(service.place(request(1, 2)))
      expect(conflict._tag).toBe("ClientOrderIdConflict")
      expect((yield* book.orders).length).toBe(50)
    }).pipe(Effect.provide(broker({}))))
})
