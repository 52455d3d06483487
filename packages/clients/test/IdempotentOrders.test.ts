import { BrokerClient, Simulated } from "@effect-resilience/clients"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, TestClock } from "effect"

const order = (i: number) => ({
  symbol: "AAPL",
  side: "buy" as const,
  qty: 1 + (i % 3),
  type: "market" as const,
  timeInForce: "day" as const
})

// Drive the TestClock until the fiber is done.
const runToCompletion = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, step: Duration.DurationInput, maxSteps = 10_000) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSteps; i++) {
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") return yield* Fiber.join(fiber)
      yield* TestClock.adjust(step)
    }
    return yield* Effect.dieMessage("fiber did not finish")
  })

const simulated = (options: Parameters<typeof Simulated.layerBroker>[0], faults: Partial<Simulated.Faults>) =>
  Simulated.layerBroker(options).pipe(Layer.provideMerge(Simulated.layerFaults(faults)))

describe("IdempotentOrders", () => {
  it.effect("1,000 placements under 'timeout after accept' produce exactly 1,000 orders, none twice", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) => client.placeOrder(order(i)), {
          concurrency: 100
        })
      )
      const placed = yield* runToCompletion(fiber, "10 seconds")
      const booked = yield* broker.orders
      expect(placed).toHaveLength(1000)
      expect(booked).toHaveLength(1000)
      const ids = new Set(booked.map((o) => o.clientOrderId))
      expect(ids.size).toBe(1000)
      // every caller got the order the broker booked for it
      expect(new Set(placed.map((o) => o.clientOrderId))).toEqual(ids)
      // the fault really fired: many lookups resolved accepted-then-timed-out orders
      const calls = yield* broker.calls
      expect(calls.getOrderByClientOrderId).toBeGreaterThan(200)
    }).pipe(
      Effect.provide(
        simulated(
          {
            startingCash: 1e12,
            policy: {
              orders: {
                bulkhead: { maxConcurrent: 100, maxWaiting: 1000 },
                timeout: Duration.seconds(10),
                breaker: null,
                retry: { maxRetries: 5, baseDelay: Duration.seconds(1), maxDelay: Duration.seconds(4) }
              },
              requests: { breaker: null, bulkhead: null }
            }
          },
          { timeoutAfterAcceptRate: 0.5, hangFor: Duration.minutes(5) }
        )
      )
    ))

  it.effect("errors before booking are resent with the same client order id; nothing is booked twice", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 120 }, (_, i) => i), (i) => Effect.exit(client.placeOrder(order(i))), {
          concurrency: 50
        })
      )
      const exits = yield* runToCompletion(fiber, "1 second")
      const booked = yield* broker.orders
      const ids = booked.map((o) => o.clientOrderId)
      expect(new Set(ids).size).toBe(ids.length) // never a duplicate
      const succeeded = exits.filter(Exit.isSuccess)
      expect(succeeded.length).toBeGreaterThan(100)
      // each success is exactly one booked order
      for (const exit of succeeded) expect(ids.filter((id) => id === exit.value.clientOrderId)).toHaveLength(1)
    }).pipe(
      Effect.provide(
        simulated(
          {
            seed: 7,
            startingCash: 1e12,
            policy: {
              orders: {
                timeout: Duration.seconds(5),
                bulkhead: { maxConcurrent: 50, maxWaiting: 500 },
                breaker: null,
                retry: { maxRetries: 6, baseDelay: Duration.millis(100), maxDelay: Duration.seconds(1) }
              },
              requests: { breaker: null, bulkhead: null }
            }
          },
          {
            errorRate: 0.2,
            timeoutAfterAcceptRate: 0.2,
            latency: {
              base: Duration.millis(20),
              jitter: Duration.millis(50),
              spikeRate: 0.05,
              spike: Duration.seconds(2)
            }
          }
        )
      )
    ))

  it.effect("the caller's client order id is kept, and a repeat placement with it is answered with the booked order", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      const faults = yield* Simulated.SimulatedFaults
      yield* faults.set({ timeoutAfterAcceptRate: 1 })
      const fiber = yield* Effect.fork(client.placeOrder({ ...order(0), clientOrderId: "mine-1" }))
      yield* faults.set({ timeoutAfterAcceptRate: 0 })
      const placed = yield* runToCompletion(fiber, "1 second")
      expect(placed.clientOrderId).toBe("mine-1")
      expect((yield* broker.orders).map((o) => o.clientOrderId)).toEqual(["mine-1"])
    }).pipe(Effect.provide(simulated({ policy: { orders: { breaker: null } } }, {}))))

  it.effect("an open breaker rejects before anything is sent", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      const faults = yield* Simulated.SimulatedFaults
      yield* faults.set({ errorRate: 1 })
      for (let i = 0; i < 3; i++) {
        const exit = yield* Effect.exit(client.placeOrder(order(i)))
        expect(Exit.isFailure(exit)).toBe(true)
      }
      const before = (yield* broker.calls).submitOrder ?? 0
      const exit = yield* Effect.exit(client.placeOrder(order(9)))
      expect(Exit.isFailure(exit) && (exit.cause as any).error._tag).toBe("CircuitOpenError")
      expect((yield* broker.calls).submitOrder ?? 0).toBe(before)
      expect(yield* broker.orders).toHaveLength(0)
    }).pipe(
      Effect.provide(simulated({ policy: { orders: { retry: { maxRetries: 0 } }, requests: { breaker: null } } }, {}))
    ))

  it.effect("a full bulkhead rejects before anything is sent", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      // 1 running + 1 waiting; the third is rejected at once
      const slow = yield* Effect.fork(
        Effect.all([client.placeOrder(order(1)), client.placeOrder(order(2))], { concurrency: 2 })
      )
      yield* TestClock.adjust("1 millis")
      const exit = yield* Effect.exit(client.placeOrder(order(3)))
      expect(Exit.isFailure(exit) && (exit.cause as any).error._tag).toBe("BulkheadRejectedError")
      yield* runToCompletion(slow, "1 second")
      expect(yield* broker.orders).toHaveLength(2)
    }).pipe(
      Effect.provide(
        simulated(
          { policy: { orders: { bulkhead: { maxConcurrent: 1, maxWaiting: 1 } } } },
          { latency: { base: Duration.seconds(2), jitter: Duration.zero, spikeRate: 0, spike: Duration.zero } }
        )
      )
    ))

  it.effect("non-transient errors are not retried", () =>
    Effect.gen(function*() {
      const client = yield* BrokerClient.BrokerClient
      const broker = yield* Simulated.SimulatedBroker
      const exit = yield* Effect.exit(client.placeOrder({ ...order(0), symbol: "NOPE" }))
      expect(Exit.isFailure(exit) && (exit.cause as any).error._tag).toBe("UnknownSymbolError")
      expect((yield* broker.calls).submitOrder).toBe(1)
      const invalid = yield* Effect.exit(client.placeOrder({ ...order(0), type: "limit" }))
      expect(Exit.isFailure(invalid) && (invalid.cause as any).error._tag).toBe("OrderRejectedError")
      expect((yield* broker.calls).submitOrder).toBe(1) // rejected before sending
    }).pipe(Effect.provide(simulated({}, {}))))

  it.effect("the simulator, told not to dedupe, records duplicates (the test's witness)", () =>
    Effect.gen(function*() {
      const { api, state } = yield* Simulated.makeBrokerApi({ rejectDuplicateClientOrderIds: false })
      const submission = { ...order(0), clientOrderId: "dup" }
      yield* api.submitOrder(submission)
      yield* api.submitOrder(submission)
      expect((yield* state.orders).filter((o) => o.clientOrderId === "dup")).toHaveLength(2)
    }).pipe(Effect.provide(Simulated.layerFaults())))
})
