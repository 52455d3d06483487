/**
 * A fleet-wide circuit breaker on Redis: run this in two or three terminals
 * against the same Redis; the broker fails in every process, and once
 * failures from two instances are in, the breaker opens in all of them (a
 * process that joins later finds it Open without a failure of its own).
 *
 *   redis-server --port 6379 &
 *   INSTANCE=a BREAKER_REDIS_URL=redis://127.0.0.1:6379 pnpm exec tsx packages/redis/examples/fleet-breaker.ts
 *   INSTANCE=b BREAKER_REDIS_URL=redis://127.0.0.1:6379 pnpm exec tsx packages/redis/examples/fleet-breaker.ts
 *
 * Without a Redis each process falls back to its own local breaker (one
 * warning) and the example still runs.
 */
import { CircuitBreakerRegistry } from "@effect-resilience/core"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { Console, Duration, Effect, Layer, Schedule } from "effect"

// Reads BREAKER_REDIS_URL / _CLUSTER_NODES / _PREFIX / _COMMAND_TIMEOUT (all optional).
const Store = RedisCircuitBreakerStore.layerConfig()

const Breakers = CircuitBreakerRegistry.layerShared({
  instanceId: process.env.INSTANCE ?? `pid-${process.pid}`,
  // the fleet opens only when two instances report failures: one broken network cannot open it
  quorum: { instances: 2 }
}).pipe(Layer.provide(Store))

const brokerCall = Effect.fail("broker unavailable" as const)

const program = Effect.gen(function*() {
  const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
  const breaker = yield* registry.get({ service: "example", resource: "broker", failureThreshold: 3 })
  yield* breaker.execute(brokerCall).pipe(
    Effect.catchTags({
      CircuitOpenError: (e) => Console.log(`rejected: ${e.state}, retry after ${Duration.format(e.retryAfter)}`)
    }),
    Effect.catchAll((e) => Console.log(`failed: ${e}`)),
    Effect.zipRight(
      Effect.flatMap(breaker.snapshot, (s) =>
        Console.log(
          `  local+fleet: ${s.state}, fleet: ${s.fleet?.state} (${s.fleet?.mode}), failing: ${
            s.fleet?.failingInstances.map((f) => f.instance).join(", ")
          }`
        ))
    ),
    Effect.repeat(Schedule.spaced("500 millis").pipe(Schedule.intersect(Schedule.recurs(20))))
  )
})

program.pipe(Effect.scoped, Effect.provide(Breakers), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
