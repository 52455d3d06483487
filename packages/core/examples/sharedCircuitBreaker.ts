/**
 * A fleet-wide circuit breaker: three gateway instances (in one process here,
 * sharing `CircuitBreakerStore.layerMemory`; a real fleet uses the Redis
 * store) call one broker. The broker fails for instances 1 and 2 only; their
 * failures trip the fleet (quorum: 2 instances), and instance 3, which has
 * not failed once, learns it by push and stops calling the broker too. After
 * the reset timeout exactly one probe runs fleet-wide, and its success closes
 * the breaker for all three.
 *
 * Run: `pnpm exec tsx packages/core/examples/sharedCircuitBreaker.ts`
 */
import { CircuitBreakerStore, SharedCircuitBreaker } from "@effect-resilience/core"
import { Console, Effect } from "effect"

let brokerDown = true
let brokerCalls = 0
const callBroker = (instance: string) =>
  Effect.suspend(() => {
    brokerCalls++
    return brokerDown && instance !== "gateway-3" ? Effect.fail("ECONNRESET" as const) : Effect.succeed("filled")
  })

const program = Effect.gen(function*() {
  const instances = yield* Effect.forEach(
    ["gateway-1", "gateway-2", "gateway-3"],
    (instanceId) =>
      SharedCircuitBreaker.make({
        service: "trading_gateway",
        resource: "broker_api",
        instanceId,
        failureThreshold: 3,
        resetTimeout: "1 second",
        quorum: { instances: 2 },
        report: { interval: "50 millis" }
      }).pipe(Effect.map((breaker) => ({ instanceId, breaker })))
  )

  const round = (label: string) =>
    Effect.gen(function*() {
      const outcomes = yield* Effect.forEach(instances, ({ breaker, instanceId }) =>
        callBroker(instanceId).pipe(
          breaker.execute,
          Effect.match({
            onSuccess: (value) => value,
            onFailure: (error) => typeof error === "string" ? error : `rejected (${error.state})`
          })
        ))
      yield* Console.log(
        `${label.padEnd(22)} ${outcomes.map((o) => o.padEnd(20)).join(" ")} broker calls: ${brokerCalls}`
      )
    })

  yield* round("round 1")
  yield* round("round 2")
  // the batches reach the store: the fleet trips (2 failing instances), pushed to all three
  yield* Effect.sleep("100 millis")
  yield* round("after the trip")
  const [, , third] = instances
  const snapshot = yield* third.breaker.snapshot
  yield* Console.log(
    `gateway-3 sees the fleet ${snapshot.fleet?.state}; failing: ${
      snapshot.fleet?.failingInstances.map((f) => `${f.instance} (${f.failures})`).join(", ")
    }`
  )
  brokerDown = false
  yield* Effect.sleep("1 second")
  // one probe fleet-wide; its success closes the breaker for everyone
  yield* round("after the reset time")
  yield* Effect.sleep("50 millis")
  yield* round("closed again")
}).pipe(Effect.scoped, Effect.provide(CircuitBreakerStore.layerMemory()))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
