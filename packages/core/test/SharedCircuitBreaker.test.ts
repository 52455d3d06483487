import type { CircuitBreaker } from "@effect-resilience/core"
import { CircuitBreakerRegistry, CircuitBreakerStore, SharedCircuitBreaker } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Deferred,
  Duration,
  Effect,
  Either,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Option,
  Stream,
  TestClock
} from "effect"
import type { SharedBreaker } from "../src/internal/sharedCircuitBreaker.js"
import { counterValue } from "./utils/metrics.js"

// let every fiber that can run, run (pushes, batch writes): no time passes
const settle = Effect.repeatN(Effect.yieldNow(), 200)

// a store wrapper counting the calls each instance makes
const counting = (store: CircuitBreakerStore.Service) => {
  const calls = { n: 0 }
  const wrapped: CircuitBreakerStore.Service = {
    read: (key) => Effect.suspend(() => (calls.n++, store.read(key))),
    compareAndSet: (key, expected, value, ttl) =>
      Effect.suspend(() => (calls.n++, store.compareAndSet(key, expected, value, ttl))),
    changes: (key) => Effect.suspend(() => (calls.n++, store.changes(key)))
  }
  return { calls, store: wrapped }
}

// a store that can be made to fail or hang, its push streams failing at once
const controllable = (store: CircuitBreakerStore.Service) =>
  Effect.gen(function*() {
    const control = { mode: "ok" as "ok" | "fail" | "hang", broken: yield* Deferred.make<void>() }
    const gate = <A>(operation: string, effect: Effect.Effect<A, CircuitBreakerStore.CircuitBreakerStoreError>) =>
      Effect.suspend(() =>
        control.mode === "ok"
          ? effect
          : control.mode === "hang"
          ? Effect.never
          : Effect.fail(new CircuitBreakerStore.CircuitBreakerStoreError({ operation, message: "connection refused" }))
      )
    const wrapped: CircuitBreakerStore.Service = {
      read: (key) => gate("read", store.read(key)),
      compareAndSet: (key, expected, value, ttl) =>
        gate("compareAndSet", store.compareAndSet(key, expected, value, ttl)),
      changes: (key) =>
        Effect.suspend(() => {
          if (control.mode === "hang") return Effect.never
          if (control.mode === "fail") {
            return Effect.fail(
              new CircuitBreakerStore.CircuitBreakerStoreError({ operation: "changes", message: "down" })
            )
          }
          const broken = control.broken
          return Effect.map(store.changes(key), (stream) =>
            Stream.merge(
              stream,
              Stream.fromEffect(
                Effect.zipRight(
                  Deferred.await(broken),
                  Effect.fail(
                    new CircuitBreakerStore.CircuitBreakerStoreError({ operation: "changes", message: "lost" })
                  )
                )
              )
            ))
        })
    }
    const setMode = (mode: "ok" | "fail" | "hang") =>
      Effect.gen(function*() {
        control.mode = mode
        if (mode !== "ok") {
          yield* Deferred.succeed(control.broken, undefined)
          control.broken = yield* Deferred.make<void>()
        }
      })
    return { store: wrapped, setMode }
  })

const instance = (
  store: CircuitBreakerStore.Service,
  instanceId: string,
  options: Partial<SharedCircuitBreaker.Options> = {}
) =>
  SharedCircuitBreaker.make({
    service: "fleet_test",
    resource: "broker",
    failureThreshold: 3,
    resetTimeout: "10 seconds",
    instanceId,
    ...options
  }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))

// the value of the gauge resilience_circuit_breaker_shared for this test's breaker
const sharedGauge = Effect.map(Metric.snapshot, (pairs) => {
  for (const pair of pairs) {
    if (pair.metricKey.name !== "resilience_circuit_breaker_shared") continue
    if (pair.metricKey.tags.some((t) => t.key === "service" && t.value === "fleet_test")) {
      return Number((pair.metricState as unknown as { value: number }).value)
    }
  }
  return undefined
})

const fail = Effect.fail("boom")
const ok = Effect.succeed("ok")

const failTimes = (breaker: CircuitBreaker.CircuitBreaker, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.either(breaker.execute(fail)), { discard: true })

const rejectionOf = (either: Either.Either<unknown, unknown>) =>
  Either.isLeft(either) && typeof either.left === "object" && either.left !== null &&
    (either.left as { _tag?: string })._tag === "CircuitOpenError"
    ? (either.left as CircuitBreaker.CircuitOpenError)
    : undefined

// three instances whose fleet state is Open (failures on a and b, each below its local threshold)
const trippedFleet = (options: Partial<SharedCircuitBreaker.Options> = {}) =>
  Effect.gen(function*() {
    const memory = yield* CircuitBreakerStore.makeMemory()
    const a = counting(memory)
    const b = counting(memory)
    const c = counting(memory)
    const ia = yield* instance(a.store, "a", options)
    const ib = yield* instance(b.store, "b", options)
    const ic = yield* instance(c.store, "c", options)
    yield* failTimes(ia, 2)
    yield* TestClock.adjust(100)
    yield* settle
    yield* failTimes(ib, 2)
    yield* TestClock.adjust(100)
    yield* settle
    return { memory, a, b, c, ia, ib, ic }
  })

describe("SharedCircuitBreaker", () => {
  it.scoped("failures on two instances open all three; the third learns it by push, with no store call of its own", () =>
    Effect.gen(function*() {
      const { c, ia, ib, ic } = yield* trippedFleet()
      // no instance tripped locally (2 failures each, threshold 3): the fleet did
      for (const breaker of [ia, ib, ic]) {
        const snapshot = yield* breaker.snapshot
        expect(snapshot.fleet?.state).toBe("Open")
        expect(snapshot.state).toBe("Open")
      }
      const before = c.calls.n
      const results = yield* Effect.forEach(Array.from({ length: 50 }), () => Effect.either(ic.execute(ok)))
      for (const result of results) expect(rejectionOf(result)?.state).toBe("Open")
      // the fleet's retryAfter: what is left of its 10 s Open period (no time has passed since the trip)
      const retryAfter = rejectionOf(results[0])!.retryAfter
      expect(Duration.toMillis(retryAfter)).toBeGreaterThan(0)
      expect(Duration.toMillis(retryAfter)).toBeLessThanOrEqual(10_000)
      yield* settle
      expect(c.calls.n).toBe(before)
      const snapshot = yield* ic.snapshot
      expect(snapshot.fleet?.failingInstances.map((f) => f.instance).sort()).toEqual(["a", "b"])
      expect(snapshot.fleet?.mode).toBe("shared")
      expect(snapshot.fleet?.instanceId).toBe("c")
    }))

  it.scoped("with a quorum of 2, a single failing instance opens only its own breaker", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const ia = yield* instance(memory, "a")
      const ib = yield* instance(memory, "b")
      yield* failTimes(ia, 10)
      yield* TestClock.adjust(100)
      yield* settle
      expect(yield* ia.state).toBe("Open")
      expect(rejectionOf(yield* Effect.either(ia.execute(ok)))?.state).toBe("Open")
      expect(yield* ib.execute(ok)).toBe("ok")
      const snapshot = yield* ib.snapshot
      expect(snapshot.fleet?.state).toBe("Closed")
      expect(snapshot.fleet?.failingInstances).toEqual([
        expect.objectContaining({ instance: "a", failures: 3 })
      ])
    }))

  it.scoped("a failure-rate rule over a time window counts every instance's calls in one fleet-wide window", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const options: Partial<SharedCircuitBreaker.Options> = {
        failureThreshold: Infinity,
        failureRateThreshold: 0.5,
        windowType: "time",
        windowSize: 10,
        minimumCalls: 8
      }
      const ia = yield* instance(memory, "a", options)
      const ib = yield* instance(memory, "b", options)
      // each instance alone: 4 calls, below minimumCalls; the fleet: 8 calls, half of them failed
      yield* failTimes(ia, 2)
      yield* Effect.forEach([1, 2], () => ia.execute(ok), { discard: true })
      yield* failTimes(ib, 2)
      yield* Effect.forEach([1, 2], () => ib.execute(ok), { discard: true })
      expect((yield* ia.snapshot).state).toBe("Closed")
      yield* TestClock.adjust(100)
      yield* settle
      for (const breaker of [ia, ib]) {
        const snapshot = yield* breaker.snapshot
        expect(snapshot.fleet?.state).toBe("Open")
        expect(snapshot.state).toBe("Open")
      }
      expect(
        yield* counterValue("resilience_circuit_breaker_transitions_total", "circuit_breaker", "fleet_test", {
          operation: "broker",
          scope: "fleet",
          from: "Closed",
          to: "Open"
        })
      ).toBeGreaterThanOrEqual(2)
    }))

  it.scoped("with quorum 1 a single instance trips the fleet", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const ia = yield* instance(memory, "a", { quorum: { instances: 1 } })
      const ib = yield* instance(memory, "b", { quorum: { instances: 1 } })
      yield* failTimes(ia, 3)
      yield* TestClock.adjust(100)
      yield* settle
      expect(rejectionOf(yield* Effect.either(ib.execute(ok)))?.state).toBe("Open")
    }))

  for (const probes of [1, 3]) {
    it.scoped(`1,000 concurrent callers on each of three instances in half-open: exactly ${probes} probe(s) fleet-wide, and a probe's success closes all three`, () =>
      Effect.gen(function*() {
        const { ia, ib, ic } = yield* trippedFleet({ halfOpenMaxProbes: probes })
        yield* TestClock.adjust("10 seconds")
        let ran = 0
        const probe = Effect.zipRight(Effect.sync(() => ran++), Effect.as(Effect.sleep("1 second"), "probed"))
        const fiber = yield* Effect.fork(
          Effect.all(
            [ia, ib, ic].flatMap((breaker) =>
              Array.from({ length: 1000 }, () => Effect.either(breaker.execute(probe)))
            ),
            { concurrency: "unbounded" }
          )
        )
        yield* settle
        expect(ran).toBe(probes)
        yield* TestClock.adjust("1 second")
        const results = yield* Fiber.join(fiber)
        expect(results.filter(Either.isRight)).toHaveLength(probes)
        const rejected = results.filter((r) => rejectionOf(r) !== undefined)
        expect(rejected).toHaveLength(3000 - probes)
        yield* settle
        for (const breaker of [ia, ib, ic]) {
          expect(yield* breaker.state).toBe("Closed")
          expect((yield* breaker.snapshot).fleet?.state).toBe("Closed")
        }
        expect(yield* ic.execute(ok)).toBe("ok")
      }))
  }

  it.scoped("a probe slot held past probeLease (its instance hangs or died) is taken over by the next caller", () =>
    Effect.gen(function*() {
      const { ia, ib, ic } = yield* trippedFleet({ probeLease: "5 seconds" })
      yield* TestClock.adjust("10 seconds")
      const hung = yield* Effect.fork(ia.execute(Effect.never))
      yield* settle
      expect((yield* ib.snapshot).fleet?.state).toBe("HalfOpen")
      expect(rejectionOf(yield* Effect.either(ib.execute(ok)))?.state).toBe("HalfOpen")
      yield* TestClock.adjust("5 seconds")
      expect(yield* ib.execute(ok)).toBe("ok")
      yield* settle
      expect((yield* ic.snapshot).fleet?.state).toBe("Closed")
      yield* Fiber.interrupt(hung)
    }))

  it.scoped("a failed probe opens the fleet again for everyone", () =>
    Effect.gen(function*() {
      const { ia, ib, ic } = yield* trippedFleet()
      yield* TestClock.adjust("10 seconds")
      yield* Effect.either(ia.execute(fail))
      yield* settle
      for (const breaker of [ia, ib, ic]) expect((yield* breaker.snapshot).fleet?.state).toBe("Open")
      expect(rejectionOf(yield* Effect.either(ib.execute(ok)))?.state).toBe("Open")
    }))

  it.scoped("store down: calls continue on the local breaker, none waits longer than storeTimeout, one warning, then recovery resynchronises", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: string }> = []
      const logger = Logger.make(({ logLevel, message }) => {
        logs.push({ level: logLevel.label, message: String(Array.isArray(message) ? message[0] : message) })
      })
      yield* Effect.gen(function*() {
        const memory = yield* CircuitBreakerStore.makeMemory()
        const control = yield* controllable(memory)
        const other = yield* instance(memory, "b", { quorum: { instances: 1 } })
        const breaker = yield* instance(control.store, "a", { quorum: { instances: 1 }, storeTimeout: "250 millis" })
        yield* control.setMode("hang")
        // the Closed path never waits on the store
        expect(yield* breaker.execute(ok)).toBe("ok")
        // the batch write hangs: after storeTimeout the instance is on its own
        yield* TestClock.adjust(100)
        yield* settle
        yield* TestClock.adjust(250)
        yield* settle
        expect((yield* breaker.snapshot).fleet?.mode).toBe("local-fallback")
        expect(yield* sharedGauge).toBe(0)
        // meanwhile the fleet opens (instance b, quorum 1); a cannot hear it and decides locally
        yield* failTimes(other, 3)
        yield* TestClock.adjust(100)
        yield* settle
        expect(yield* breaker.execute(ok)).toBe("ok")
        // the local breaker still protects the instance
        yield* failTimes(breaker, 3)
        expect(rejectionOf(yield* Effect.either(breaker.execute(ok)))?.state).toBe("Open")
        yield* TestClock.adjust("2 seconds")
        yield* settle
        const warnings = logs.filter((l) => l.level === "WARN" && l.message.includes("shared-state store failed"))
        expect(warnings).toHaveLength(1)
        expect(
          yield* counterValue("resilience_circuit_breaker_store_errors_total", "circuit_breaker", "fleet_test", {
            operation: "broker",
            call: "changes"
          })
        ).toBeGreaterThanOrEqual(1)
        // recovery: re-read (sees the fleet Open), resubscribe, log once
        yield* control.setMode("ok")
        yield* TestClock.adjust("5 seconds")
        yield* settle
        const snapshot = yield* breaker.snapshot
        expect(snapshot.fleet?.mode).toBe("shared")
        expect(yield* sharedGauge).toBe(1)
        expect(snapshot.fleet?.state).not.toBe("Closed")
        expect(logs.filter((l) => l.level === "INFO" && l.message.includes("answers again"))).toHaveLength(1)
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.Debug))
    }))

  it.scoped("a probe never waits longer than storeTimeout on a hanging store", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const control = yield* controllable(memory)
      const ib = yield* instance(memory, "b", { quorum: { instances: 1 } })
      const ia = yield* instance(control.store, "a", { quorum: { instances: 1 }, storeTimeout: "250 millis" })
      yield* failTimes(ib, 3)
      yield* TestClock.adjust(100)
      yield* settle
      expect((yield* ia.snapshot).fleet?.state).toBe("Open")
      yield* TestClock.adjust("10 seconds")
      yield* control.setMode("hang")
      const call = yield* Effect.fork(ia.execute(ok))
      yield* settle
      yield* TestClock.adjust(249)
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(call))).toBe(true)
      yield* TestClock.adjust(1)
      yield* settle
      // the store did not answer: the local breaker (Closed) decided
      expect(yield* Fiber.join(call)).toBe("ok")
    }))

  it.scoped("batching: a Closed success never touches the store synchronously; batches go by count and by interval", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const a = counting(memory)
      const breaker = yield* instance(a.store, "a", { report: { maxBatch: 50, interval: "1 second" } })
      const start = a.calls.n
      for (let i = 0; i < 49; i++) yield* breaker.execute(ok)
      expect(a.calls.n).toBe(start)
      yield* settle
      expect(a.calls.n).toBe(start)
      // the 50th outcome sends the batch, with no time passing
      yield* breaker.execute(ok)
      yield* settle
      expect(a.calls.n).toBe(start + 1)
      expect(Option.getOrThrow((yield* memory.read("fleet_test/broker")).entry).version).toBe(1)
      // fewer than maxBatch: sent at the interval
      for (let i = 0; i < 10; i++) yield* breaker.execute(ok)
      yield* settle
      expect(a.calls.n).toBe(start + 1)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(a.calls.n).toBe(start + 2)
      expect(Option.getOrThrow((yield* memory.read("fleet_test/broker")).entry).version).toBe(2)
    }))

  it.scoped("a failure is sent at once, with the successes buffered beside it, with no time passing", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const a = counting(memory)
      const breaker = yield* instance(a.store, "a", { report: { maxBatch: 50, interval: "1 second" } })
      const start = a.calls.n
      for (let i = 0; i < 3; i++) yield* breaker.execute(ok)
      yield* settle
      expect(a.calls.n).toBe(start)
      yield* Effect.either(breaker.execute(Effect.fail("boom")))
      yield* settle
      expect(a.calls.n).toBe(start + 1)
      const fleet = yield* breaker.snapshot
      expect(fleet.fleet?.failingInstances.map((i) => [i.instance, i.failures])).toEqual([["a", 1]])
    }))

  it.scoped("a batch that leaves the fleet's state as it was is not written", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const a = counting(memory)
      // one rule, no window: a success on a healthy breaker changes nothing
      const breaker = yield* instance(a.store, "a", { rules: [], failureThreshold: undefined })
      const start = a.calls.n
      for (let i = 0; i < 10; i++) yield* breaker.execute(ok)
      yield* TestClock.adjust(100)
      yield* settle
      expect(a.calls.n).toBe(start)
    }))

  it.scoped("the buffer is bounded while the store is away (the oldest outcomes dropped)", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const control = yield* controllable(memory)
      const breaker = yield* instance(control.store, "a", { report: { maxBatch: 5, maxBuffer: 8 } })
      yield* control.setMode("fail")
      for (let i = 0; i < 100; i++) yield* breaker.execute(ok)
      yield* settle
      const internal = breaker as SharedBreaker
      expect(internal.buffered).toBeLessThanOrEqual(8)
      expect(internal.droppedOutcomes).toBeGreaterThan(0)
    }))

  it.scoped("manual commands act fleet-wide", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const ia = yield* instance(memory, "a")
      const ib = yield* instance(memory, "b")
      yield* ia.isolate
      yield* settle
      expect(yield* ib.state).toBe("Isolated")
      expect(rejectionOf(yield* Effect.either(ib.execute(ok)))?.state).toBe("Isolated")
      yield* ia.reset
      yield* settle
      expect(yield* ib.state).toBe("Closed")
      expect(yield* ib.execute(ok)).toBe("ok")
    }))

  it.scoped("fleet transitions are announced on events with fleet: true", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const ia = yield* instance(memory, "a", { quorum: { instances: 1 } })
      const ib = yield* instance(memory, "b", { quorum: { instances: 1 } })
      const changes = yield* ib.subscribe
      yield* failTimes(ia, 3)
      yield* TestClock.adjust(100)
      yield* settle
      const change = yield* changes.take
      expect(change).toMatchObject({ breaker: "fleet_test/broker", from: "Closed", to: "Open", fleet: true })
      expect(change.reason).toBe("consecutive-failures")
    }))

  it.scoped("a fleet rejection is recorded on the current span; the fleet's transition is logged by the program's logger", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => {
        logs.push(String(Array.isArray(message) ? message[0] : message))
      })
      yield* Effect.gen(function*() {
        const { ic } = yield* trippedFleet()
        const span = yield* Effect.either(ic.execute(ok)).pipe(
          Effect.zipRight(Effect.currentSpan),
          Effect.withSpan("call")
        )
        const events = (span as unknown as { events: ReadonlyArray<[string, bigint, Record<string, unknown>]> }).events
        expect(
          events.map((
            [name, , attributes]
          ) => [name, attributes["resilience.circuit_breaker.state"], attributes["resilience.circuit_breaker.scope"]])
        ).toEqual([["resilience.circuit_breaker.rejected", "Open", "fleet"]])
        yield* settle
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      // one line per instance (three instances in this process)
      expect(logs.filter((line) => line.includes("(fleet): Closed -> Open"))).toHaveLength(3)
    }))

  it.scoped("awaitClosed waits out an open fleet and ends when a probe closes it", () =>
    Effect.gen(function*() {
      const { ia, ic } = yield* trippedFleet()
      const waiting = yield* Effect.fork(ic.awaitClosed)
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      expect(yield* ia.execute(ok)).toBe("ok")
      yield* settle
      yield* Fiber.join(waiting)
    }))

  it.effect("rejects invalid fleet options with InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const cases: Array<[Partial<SharedCircuitBreaker.Options>, string]> = [
        [{ quorum: { instances: 0 } }, "quorum.instances"],
        [{ report: { maxBatch: 0 } }, "report.maxBatch"],
        [{ storeTimeout: -1 }, "storeTimeout"],
        [{ ttl: "1 second" }, "ttl"],
        [{ instanceId: "" }, "instanceId"]
      ]
      for (const [options, option] of cases) {
        const result = yield* Effect.either(Effect.scoped(instance(memory, "a", options)))
        expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "InvalidOptionsError", option })
      }
    }))
})

describe("CircuitBreakerRegistry.layerShared", () => {
  it.scoped("get makes fleet-wide breakers on the store, with the registry's fleet options", () =>
    Effect.gen(function*() {
      const memory = yield* CircuitBreakerStore.makeMemory()
      const program = Effect.gen(function*() {
        const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
        const breaker = yield* registry.get({ service: "gw", resource: "broker" })
        expect(yield* breaker.execute(ok)).toBe("ok")
        expect(yield* registry.get({ service: "gw", resource: "broker" })).toBe(breaker)
        const [snapshot] = yield* registry.snapshot
        expect(snapshot.fleet).toMatchObject({ mode: "shared", instanceId: "gw-1", state: "Closed" })
      })
      // without an instanceId, one id for all the registry's breakers
      yield* Effect.gen(function*() {
        const registry = yield* CircuitBreakerRegistry.CircuitBreakerRegistry
        yield* registry.get({ service: "gw", resource: "one" })
        yield* registry.get({ service: "gw", resource: "two" })
        const snapshots = yield* registry.snapshot
        expect(new Set(snapshots.map((s) => s.fleet?.instanceId)).size).toBe(1)
      }).pipe(
        Effect.provide(CircuitBreakerRegistry.layerShared()),
        Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, memory)
      )
      yield* program.pipe(
        Effect.provide(CircuitBreakerRegistry.layerShared({ instanceId: "gw-1" })),
        Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, memory)
      )
    }))

  it.effect("fails to build with invalid fleet options", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(
        Effect.scoped(Layer.build(CircuitBreakerRegistry.layerShared({ quorum: { instances: -1 } })))
      ).pipe(Effect.provide(CircuitBreakerStore.layerMemory()))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "InvalidOptionsError" })
    }))
})
