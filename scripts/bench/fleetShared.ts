/**
 * The shared breaker's own figures for `pnpm bench:fleet`, on a real
 * redis-server of their own:
 *
 * - success path: `execute(Effect.void)` through a Closed local breaker
 *   (`CircuitBreaker.make`) and through Closed shared breakers
 *   (`SharedCircuitBreaker.make`, same options) on `RedisCircuitBreakerStore`
 *   and on `CircuitBreakerStore.layerMemory`, interleaved rounds of one run;
 * - propagation: two shared breakers, each with its own Redis connections
 *   (instances `a` and `b`, `quorum.instances` 1), trip after trip: one
 *   failure on `a` trips the fleet; the time from `a`'s own fleet event
 *   `Closed → Open` (its write was accepted) to `b`'s (pushed to it), p50 /
 *   p99; `a.reset` closes the fleet again before the next trip.
 */
import { Context, Effect, Layer, Logger, LogLevel, ManagedRuntime, Queue } from "effect"
import * as CircuitBreaker from "../../packages/core/src/CircuitBreaker.js"
import * as CircuitBreakerStore from "../../packages/core/src/CircuitBreakerStore.js"
import * as SharedCircuitBreaker from "../../packages/core/src/SharedCircuitBreaker.js"
import * as RedisCircuitBreakerStore from "../../packages/redis/src/RedisCircuitBreakerStore.js"
import { type RedisServer, startRedis } from "../../packages/redis/test/support/redisServer.js"
import type { Settings, Table } from "./harness.js"
import { effectLoop, fmtNs, measure, now } from "./harness.js"

export interface Part {
  readonly table: Table
  readonly notes: Array<string>
}

class Breaker extends Context.Tag("bench/fleet/Breaker")<Breaker, CircuitBreaker.CircuitBreaker>() {}

const breakerOptions = { service: "bench", resource: "broker", failureThreshold: 5 } as const

const sharedRuntime = (
  store: Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, unknown>,
  options: Partial<SharedCircuitBreaker.Options>
) =>
  ManagedRuntime.make(
    Layer.scoped(Breaker, SharedCircuitBreaker.make({ ...breakerOptions, ...options })).pipe(
      Layer.provide(store),
      // the breakers' fibers would log every trip and reset of the propagation loop
      Layer.provide(Logger.minimumLogLevel(LogLevel.None))
    )
  )

const withRedis = async <A>(use: (redis: RedisServer) => Promise<A>): Promise<A> => {
  const redis = await startRedis()
  try {
    return await use(redis)
  } finally {
    await redis.stop()
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export const successPath = (settings: Settings): Promise<Part> =>
  withRedis(async (redis) => {
    const local = Effect.runSync(CircuitBreaker.make(breakerOptions))
    const onRedis = sharedRuntime(RedisCircuitBreakerStore.layer({ url: redis.url }), { instanceId: "bench-redis" })
    const inMemory = sharedRuntime(CircuitBreakerStore.layerMemory(), { instanceId: "bench-memory" })
    try {
      const shared = await onRedis.runPromise(Breaker)
      const memory = await inMemory.runPromise(Breaker)
      const loop = (breaker: CircuitBreaker.CircuitBreaker) =>
        effectLoop((effect) => Effect.runPromise(effect), () => breaker.execute(Effect.void))
      const [l, r, m] = await measure(settings, [
        { label: "local", run: loop(local) },
        { label: "shared (Redis)", run: loop(shared) },
        { label: "shared (memory)", run: loop(memory) }
      ])
      return {
        table: {
          title: "Success path: `execute(Effect.void)` on a Closed breaker, one fiber (ns per call, same run)",
          columns: ["breaker", "per call", "added over the local breaker"],
          rows: [
            ["`CircuitBreaker.make` (local)", fmtNs(l!.nsPerOp), "—"],
            [
              "`SharedCircuitBreaker.make` on `RedisCircuitBreakerStore`",
              fmtNs(r!.nsPerOp),
              fmtNs(r!.nsPerOp - l!.nsPerOp)
            ],
            [
              "`SharedCircuitBreaker.make` on `CircuitBreakerStore.layerMemory`",
              fmtNs(m!.nsPerOp),
              fmtNs(m!.nsPerOp - l!.nsPerOp)
            ]
          ]
        },
        notes: [
          "Success path: goal ≤ 300 ns added over the local breaker (issue 17); successes leave in batches " +
          "(every 100 outcomes or 100 ms), so the Redis round trip is off the path. On the memory store the " +
          "batches' compare-and-set and push run in this process, between the measured calls."
        ]
      }
    } finally {
      await onRedis.dispose()
      await inMemory.dispose()
    }
  })

export const propagation = (settings: Settings): Promise<Part> =>
  withRedis(async (redis) => {
    const trips = settings.quick ? 20 : 200
    const fleet = { quorum: { instances: 1 }, failureThreshold: 1, resetTimeout: "1 minute" } as const
    const a = sharedRuntime(RedisCircuitBreakerStore.layer({ url: redis.url }), { ...fleet, instanceId: "a" })
    const b = sharedRuntime(RedisCircuitBreakerStore.layer({ url: redis.url }), { ...fleet, instanceId: "b" })
    try {
      const latencies: Array<number> = []
      const fromFailure: Array<number> = []
      const breakerA = await a.runPromise(Breaker)
      const breakerB = await b.runPromise(Breaker)
      await Effect.runPromise(
        Effect.scoped(Effect.gen(function*() {
          const seenA = yield* breakerA.subscribe
          const seenB = yield* breakerB.subscribe
          // the fleet's next change to `to` on this queue, and when it was taken
          const fleetTo = (queue: Queue.Dequeue<CircuitBreaker.StateChange>, to: CircuitBreaker.State) =>
            Effect.gen(function*() {
              while (true) {
                const change = yield* Queue.take(queue)
                if (change.fleet === true && change.to === to) return now()
              }
            }).pipe(
              Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no fleet ${to} within 10 s`) })
            )
          for (let i = 0; i < trips; i++) {
            const [[failed, opened], seen] = yield* Effect.all([
              Effect.zip(
                Effect.as(Effect.ignore(breakerA.execute(Effect.fail("down"))), now()),
                fleetTo(seenA, "Open")
              ),
              fleetTo(seenB, "Open")
            ], { concurrency: "unbounded" })
            latencies.push(seen - opened)
            fromFailure.push(seen - failed)
            yield* Effect.all([breakerA.reset, fleetTo(seenB, "Closed")], { concurrency: "unbounded", discard: true })
          }
        })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.None)))
      )
      const ms = (x: number) => `${x.toFixed(2)} ms`
      const row = (label: string, xs: ReadonlyArray<number>) => {
        const sorted = [...xs].sort((x, y) => x - y)
        return [label, ms(percentile(sorted, 50)), ms(percentile(sorted, 99)), ms(sorted.at(-1)!)]
      }
      return {
        table: {
          title:
            `Propagation: a trip on instance a until instance b sees the fleet Open (${trips} trips, real redis-server)`,
          columns: ["from", "p50", "p99", "max"],
          rows: [
            row("a's fleet Open (its write accepted) → b sees Open", latencies),
            row("a's failing call returned → b sees Open (includes a's failure report)", fromFailure)
          ]
        },
        notes: [
          "Propagation: goal p99 ≤ 100 ms (issue 17). Two breakers of one process, each with its own Redis " +
          "connections (command + subscriber); the first row is the push alone, the second adds a's report of the " +
          "failure (a failure is sent at once; successes wait for a batch of 100 or 100 ms)."
        ]
      }
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })
