import type { ResilienceError } from "@effect-resilience/core"
import { CircuitBreaker, CircuitBreakerMachine } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  FiberStatus,
  HashMap,
  Logger,
  Metric,
  Option,
  Queue,
  Scope,
  Stream,
  TestClock
} from "effect"
import type * as CircuitBreakerInternal from "../src/internal/circuitBreaker.js"

// A breaker's series in the label scheme of Observability: policy, service, operation (its resource).
const scheme = <T, I, O>(metric: Metric.Metric<T, I, O>, resource: string) =>
  Metric.tagged(
    Metric.tagged(Metric.tagged(metric, "policy", "circuit_breaker"), "service", "test"),
    "operation",
    resource
  )

class Boom extends Error {
  readonly _tag = "Boom"
}
class NotFound extends Error {
  readonly _tag = "NotFound"
}

const make = (resource: string, options: Partial<CircuitBreaker.Options> = {}) =>
  CircuitBreaker.make({ service: "test", resource, ...options })

const succeed = (breaker: CircuitBreaker.CircuitBreaker) => Effect.exit(breaker.execute(Effect.succeed("ok")))
const failWith = (breaker: CircuitBreaker.CircuitBreaker, error: unknown = new Boom()) =>
  Effect.exit(breaker.execute(Effect.fail(error)))
const times = <A, E, R>(n: number, effect: Effect.Effect<A, E, R>) =>
  Effect.replicateEffect(effect, n, { discard: true })

// The CircuitOpenError a call was rejected with, if it was.
const rejection = (exit: Exit.Exit<unknown, unknown>): Option.Option<ResilienceError.CircuitOpenError> =>
  Exit.isFailure(exit)
    ? Option.filter(
      Cause.failureOption(exit.cause),
      (e): e is ResilienceError.CircuitOpenError => e instanceof CircuitBreaker.CircuitOpenError
    )
    : Option.none()

const rejectedWith = (exit: Exit.Exit<unknown, unknown>) => {
  const error = Option.getOrThrowWith(rejection(exit), () => new Error(`expected a rejection, got ${String(exit)}`))
  return { state: error.state, retryAfter: Duration.toMillis(error.retryAfter), breaker: error.breaker }
}

// A forked fiber has started and is waiting (e.g. subscribed to a stream and waiting for its first element).
const awaitSuspended = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      if (FiberStatus.isSuspended(yield* Fiber.status(fiber))) return
      yield* Effect.yieldNow()
    }
    throw new Error("the fiber never suspended")
  })

const trip = (breaker: CircuitBreaker.CircuitBreaker, threshold = 5) => times(threshold, failWith(breaker))

describe("CircuitBreaker", () => {
  describe("transitions and timing", () => {
    it.effect("Closed -> Open after failureThreshold consecutive failures, HalfOpen at resetTimeout, Closed on a probe success", () =>
      Effect.gen(function*() {
        const breaker = yield* make("consecutive")
        yield* times(4, failWith(breaker))
        expect(yield* breaker.state).toBe("Closed")
        yield* failWith(breaker)
        expect(yield* breaker.state).toBe("Open")

        const snapshot = yield* breaker.snapshot
        expect(snapshot).toMatchObject({ state: "Open", failures: 5, consecutiveFailures: 5, trips: 1 })
        expect(snapshot.openedAt).toEqual(Option.some(0))
        expect(snapshot.nextAttemptAt).toEqual(Option.some(30_000))

        // rejected with the exact time left, and nothing runs
        let ran = false
        const exit = yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true))))
        expect(ran).toBe(false)
        expect(rejectedWith(exit)).toEqual({ state: "Open", retryAfter: 30_000, breaker: "test/consecutive" })
        yield* TestClock.adjust("10 seconds")
        expect(rejectedWith(yield* succeed(breaker)).retryAfter).toBe(20_000)
        yield* TestClock.adjust(Duration.millis(19_999))
        expect(rejectedWith(yield* succeed(breaker)).retryAfter).toBe(1)
        expect(yield* breaker.state).toBe("Open")

        yield* TestClock.adjust(Duration.millis(1))
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        const closed = yield* breaker.snapshot
        expect(closed).toMatchObject({
          state: "Closed",
          consecutiveFailures: 0,
          trips: 1,
          rejections: 3,
          windowCalls: 0
        })
        expect(closed.openedAt).toEqual(Option.none())
        expect(closed.nextAttemptAt).toEqual(Option.none())
      }))

    it.effect("a success resets the consecutive-failure count", () =>
      Effect.gen(function*() {
        const breaker = yield* make("streak")
        yield* times(4, failWith(breaker))
        yield* succeed(breaker)
        yield* times(4, failWith(breaker))
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", consecutiveFailures: 4, failures: 8 })
        yield* failWith(breaker)
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("state reports HalfOpen as soon as the reset timeout has passed, and that observation is the transition", () =>
      Effect.gen(function*() {
        const breaker = yield* make("observe", { failureThreshold: 1, resetTimeout: "5 seconds" })
        const changes = yield* breaker.subscribe
        yield* failWith(breaker)
        yield* TestClock.adjust(Duration.millis(4_999))
        expect(yield* breaker.state).toBe("Open")
        yield* TestClock.adjust(Duration.millis(1))
        expect(yield* breaker.state).toBe("HalfOpen")
        const snapshot = yield* breaker.snapshot
        expect(snapshot.state).toBe("HalfOpen")
        expect(snapshot.nextAttemptAt).toEqual(Option.none())
        expect(snapshot.openedAt).toEqual(Option.some(0))
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(changes)).map((c) => [c.from, c.to, c.at, c.reason])).toEqual(
          [
            ["Closed", "Open", 0, "consecutive-failures"],
            ["Open", "HalfOpen", 5_000, "reset-timeout-elapsed"]
          ]
        )
        // the next call is the probe
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("a probe failure reopens with backoff across trips, capped, and a close resets the backoff", () =>
      Effect.gen(function*() {
        const breaker = yield* make("backoff", {
          failureThreshold: 1,
          resetTimeout: "10 seconds",
          resetBackoffFactor: 2,
          maxResetTimeout: "35 seconds"
        })
        const nextAttemptAt = Effect.map(breaker.snapshot, (s) => s.nextAttemptAt)

        yield* failWith(breaker) // trip 1 at 0: open 10 s
        expect(yield* nextAttemptAt).toEqual(Option.some(10_000))
        yield* TestClock.adjust("10 seconds")
        yield* failWith(breaker) // probe fails at 10 s: open 20 s
        expect(yield* nextAttemptAt).toEqual(Option.some(30_000))
        expect(rejectedWith(yield* succeed(breaker)).retryAfter).toBe(20_000)
        yield* TestClock.adjust("20 seconds")
        yield* failWith(breaker) // probe fails at 30 s: 40 s capped to 35 s
        expect(yield* nextAttemptAt).toEqual(Option.some(65_000))
        yield* TestClock.adjust("35 seconds")
        yield* failWith(breaker) // still capped
        expect(yield* nextAttemptAt).toEqual(Option.some(100_000))
        yield* TestClock.adjust("35 seconds")
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok")) // closes at 100 s
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", trips: 4 })

        yield* failWith(breaker) // a new trip starts from resetTimeout again
        expect(yield* nextAttemptAt).toEqual(Option.some(110_000))
        expect(yield* breaker.snapshot).toMatchObject({ trips: 5 })
      }))

    it.effect("HalfOpen closes only after successThreshold probe successes", () =>
      Effect.gen(function*() {
        const breaker = yield* make("success-threshold", { failureThreshold: 1, successThreshold: 3 })
        yield* failWith(breaker)
        yield* TestClock.adjust("30 seconds")
        yield* times(2, succeed(breaker))
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("1,000 concurrent callers in HalfOpen: exactly halfOpenMaxProbes run, the rest are rejected", () =>
      Effect.gen(function*() {
        const breaker = yield* make("herd", { failureThreshold: 1, halfOpenMaxProbes: 3, successThreshold: 3 })
        yield* failWith(breaker)
        yield* TestClock.adjust("30 seconds")

        const gate = yield* Deferred.make<void>()
        let entered = 0
        const call = breaker.execute(Effect.suspend(() => {
          entered++
          return Effect.as(Deferred.await(gate), "probe")
        }))
        const all = yield* Effect.fork(Effect.all(Array.from({ length: 1_000 }, () => Effect.exit(call)), {
          concurrency: "unbounded"
        }))
        // wait until every caller got its answer or its probe slot
        for (let i = 0; i < 1_000 && (yield* breaker.snapshot).rejections + entered < 1_000; i++) {
          yield* Effect.yieldNow()
        }
        expect(entered).toBe(3)
        expect((yield* breaker.snapshot).rejections).toBe(997)
        expect(yield* breaker.state).toBe("HalfOpen")

        yield* Deferred.succeed(gate, undefined)
        const exits = yield* Fiber.join(all)
        expect(exits.filter(Exit.isSuccess)).toHaveLength(3)
        const rejected = exits.filter((exit) => Option.isSome(rejection(exit)))
        expect(rejected).toHaveLength(997)
        expect(rejectedWith(rejected[0])).toEqual({ state: "HalfOpen", retryAfter: 0, breaker: "test/herd" })
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("an interrupted probe frees its slot and counts as neither success nor failure", () =>
      Effect.gen(function*() {
        const breaker = yield* make("interrupted-probe", { failureThreshold: 1, halfOpenMaxProbes: 2 })
        yield* failWith(breaker)
        yield* TestClock.adjust("30 seconds")

        const probes = yield* Effect.forEach([1, 2], () => Effect.fork(breaker.execute(Effect.never)))
        yield* Effect.yieldNow()
        expect(rejectedWith(yield* succeed(breaker)).state).toBe("HalfOpen")

        yield* Fiber.interruptAll(probes)
        expect(yield* breaker.snapshot).toMatchObject({ state: "HalfOpen", interrupted: 2, failures: 1, successes: 0 })

        // both slots are free again
        const again = yield* Effect.forEach([1, 2], () => Effect.fork(breaker.execute(Effect.never)))
        yield* Effect.yieldNow()
        expect(rejectedWith(yield* succeed(breaker)).state).toBe("HalfOpen")
        yield* Fiber.interruptAll(again)
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("a probe that fails with an ignored error frees its slot without deciding anything", () =>
      Effect.gen(function*() {
        const breaker = yield* make("ignored-probe", {
          failureThreshold: 1,
          isFailure: (e) => !(e instanceof NotFound)
        })
        yield* failWith(breaker)
        yield* TestClock.adjust("30 seconds")
        yield* failWith(breaker, new NotFound())
        expect(yield* breaker.snapshot).toMatchObject({ state: "HalfOpen", ignored: 1 })
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("a call admitted before a transition does not move the new state", () =>
      Effect.gen(function*() {
        const breaker = yield* make("stale", { failureThreshold: 1 })
        const gate = yield* Deferred.make<void>()
        const inFlight = yield* Effect.fork(breaker.execute(Effect.zipRight(Deferred.await(gate), Effect.fail("late"))))
        yield* Effect.yieldNow()
        yield* breaker.isolate
        yield* breaker.reset
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.await(inFlight)
        // counted in the lifetime totals, but it was admitted before the reset: it does not trip the new Closed state
        expect(yield* breaker.snapshot).toMatchObject({
          state: "Closed",
          failures: 1,
          trips: 0,
          consecutiveFailures: 0
        })
      }))
  })

  describe("rate rules", () => {
    it.effect("failure rate over a count window, only with minimumCalls, sliding out old calls", () =>
      Effect.gen(function*() {
        const breaker = yield* make("count-window", {
          failureThreshold: Infinity,
          failureRateThreshold: 0.75,
          windowSize: 4,
          minimumCalls: 4
        })
        yield* failWith(breaker)
        yield* failWith(breaker)
        yield* failWith(breaker) // 3 failures, but below minimumCalls
        expect(yield* breaker.state).toBe("Closed")
        yield* succeed(breaker) // F F F S = 75%: trips
        expect(yield* breaker.snapshot).toMatchObject({ state: "Open", failureRate: 0.75, windowCalls: 4 })

        const sliding = yield* make("count-window-sliding", {
          failureThreshold: Infinity,
          failureRateThreshold: 0.75,
          windowSize: 4,
          minimumCalls: 4
        })
        for (const ok of [false, false, true, true, false, false]) {
          yield* ok ? succeed(sliding) : failWith(sliding) // windows: FFSS, FSSF, SSFF: 50%
        }
        expect(yield* sliding.snapshot).toMatchObject({ state: "Closed", failureRate: 0.5, windowCalls: 4 })
        yield* failWith(sliding) // SFFF: 75%
        const snapshot = yield* sliding.snapshot
        expect(snapshot.state).toBe("Open")
        expect(snapshot.failures).toBe(5)
      }))

    it.effect("failure rate over a time window: calls older than windowSize seconds slide out", () =>
      Effect.gen(function*() {
        const options = {
          failureThreshold: Infinity,
          failureRateThreshold: 0.5,
          windowType: "time",
          windowSize: 10,
          minimumCalls: 4
        } as const
        // 3 failures at t = 0, one success at t = 9.999 s: same window, 75%
        const inside = yield* make("time-window-inside", options)
        yield* times(3, failWith(inside))
        yield* TestClock.adjust(Duration.millis(9_999))
        yield* succeed(inside)
        expect(yield* inside.snapshot).toMatchObject({ state: "Open", windowCalls: 4, failureRate: 0.75 })

        // 3 failures at t = 9.999 s, the rest at t = 19.999 s: the failures slid out
        const outside = yield* make("time-window-outside", options)
        yield* times(3, failWith(outside))
        yield* TestClock.adjust("10 seconds")
        expect(yield* outside.snapshot).toMatchObject({ windowCalls: 0, failureRate: 0 })
        yield* times(3, succeed(outside))
        yield* failWith(outside)
        expect(yield* outside.snapshot).toMatchObject({ state: "Closed", windowCalls: 4, failureRate: 0.25 })
        yield* failWith(outside) // 2 / 5 = 40%
        expect(yield* outside.state).toBe("Closed")
        yield* failWith(outside) // 3 / 6 = 50%
        expect(yield* outside.snapshot).toMatchObject({ state: "Open", failureRate: 0.5 })
      }))

    it.effect("slow-call rate trips (slow means strictly longer than slowCallDuration)", () =>
      Effect.gen(function*() {
        const breaker = yield* make("slow", {
          slowCallRateThreshold: 0.5,
          slowCallDuration: "1 second",
          windowSize: 4,
          minimumCalls: 4
        })
        const callTaking = (millis: number) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(breaker.execute(Effect.sleep(Duration.millis(millis))))
            yield* TestClock.adjust(Duration.millis(millis))
            return yield* Fiber.join(fiber)
          })
        yield* callTaking(1_000) // not slow: exactly the limit
        yield* callTaking(1_001) // slow
        yield* callTaking(10)
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", slowCallRate: 1 / 3 })
        yield* callTaking(5_000) // 2 slow of 4
        const snapshot = yield* breaker.snapshot
        expect(snapshot).toMatchObject({ state: "Open", slowCallRate: 0.5, failures: 0, successes: 4 })
        expect(snapshot.openedAt).toEqual(Option.some(7_011))
      }))

    it.effect("a slow probe counts as a failed probe when the slow-call rule is on", () =>
      Effect.gen(function*() {
        const breaker = yield* make("slow-probe", {
          failureThreshold: 1,
          slowCallRateThreshold: 1,
          slowCallDuration: "1 second",
          resetTimeout: "10 seconds"
        })
        yield* failWith(breaker)
        yield* TestClock.adjust("10 seconds")
        const probe = yield* Effect.fork(breaker.execute(Effect.sleep("2 seconds")))
        yield* TestClock.adjust("2 seconds")
        expect(Exit.isSuccess(yield* Fiber.await(probe))).toBe(true)
        const snapshot = yield* breaker.snapshot
        expect(snapshot.state).toBe("Open")
        expect(snapshot.nextAttemptAt).toEqual(Option.some(22_000))
      }))
  })

  describe("internal synchronous admission", () => {
    it.effect("Closed handlers record like execute, trip the breaker, and are withheld once it is not Closed", () =>
      Effect.gen(function*() {
        const breaker = yield* make("sync-admission", { failureThreshold: 2, resetTimeout: "1 second" })
        const internal = breaker as CircuitBreakerInternal.Breaker
        const run = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.suspend(() => {
            const handlers = internal.unsafeClosedHandlers()
            return handlers === undefined ? breaker.execute(effect) : Effect.matchCauseEffect(effect, handlers)
          })
        expect(yield* run(Effect.succeed(1))).toBe(1)
        yield* Effect.exit(run(Effect.fail(new Boom())))
        expect(internal.unsafeClosedHandlers()).toMatchObject({
          onSuccess: expect.any(Function),
          onFailure: expect.any(Function)
        })
        yield* Effect.exit(run(Effect.fail(new Boom()))) // the second consecutive failure trips it
        expect(yield* breaker.state).toBe("Open")
        expect(internal.unsafeClosedHandlers()).toBeUndefined()
        expect(rejectedWith(yield* Effect.exit(run(Effect.succeed(1)))).state).toBe("Open")
        expect(yield* breaker.snapshot).toMatchObject({ successes: 1, failures: 2, rejections: 1, trips: 1 })
        const timed = yield* make("sync-admission-timed", { windowType: "time", failureRateThreshold: 0.5 })
        expect((timed as CircuitBreakerInternal.Breaker).unsafeClosedHandlers()).toBeUndefined()
      }))
  })

  describe("count window model", () => {
    it.effect.prop(
      "the failure rate is that of the last windowSize calls, whatever came first (successes, then failures)",
      {
        lead: fc.nat({ max: 12 }),
        outcomes: fc.array(fc.boolean(), { maxLength: 30 }),
        size: fc.integer({ min: 1, max: 6 })
      },
      ({ lead, outcomes, size }) =>
        Effect.gen(function*() {
          // no rule can trip: the window is only observed through the snapshot
          const breaker = yield* make("window-model", {
            failureThreshold: Infinity,
            failureRateThreshold: 1,
            windowSize: size,
            minimumCalls: size
          })
          const calls = [...Array.from({ length: lead }, () => true), ...outcomes]
          const model: Array<boolean> = []
          for (const ok of calls) {
            yield* ok ? succeed(breaker) : failWith(breaker)
            model.push(ok)
            if (model.length > size) model.shift()
            const snapshot = yield* breaker.snapshot
            if (snapshot.state !== "Closed") break // a full window of failures trips at rate 1
            const failed = model.filter((x) => !x).length
            expect(snapshot.windowCalls).toBe(model.length)
            expect(snapshot.failureRate).toBe(model.length === 0 ? 0 : failed / model.length)
          }
        }),
      { fastCheck: { numRuns: 60 } }
    )

    it.effect("a time window that saw no call reports an empty window, then counts from its first call", () =>
      Effect.gen(function*() {
        const breaker = yield* make("time-window-lazy", {
          failureThreshold: Infinity,
          failureRateThreshold: 0.9,
          windowType: "time",
          windowSize: 2,
          minimumCalls: 10
        })
        yield* TestClock.adjust("5 seconds")
        expect(yield* breaker.snapshot).toMatchObject({ windowCalls: 0, failureRate: 0 })
        yield* failWith(breaker)
        yield* succeed(breaker)
        expect(yield* breaker.snapshot).toMatchObject({ windowCalls: 2, failureRate: 0.5 })
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker)
        expect(yield* breaker.snapshot).toMatchObject({ windowCalls: 3 })
        yield* TestClock.adjust("2 seconds")
        expect(yield* breaker.snapshot).toMatchObject({ windowCalls: 0, failureRate: 0 })
      }))
  })

  describe("what counts", () => {
    // "wait" (a TestClock adjustment, lets Open breakers half-open) is rarer: it costs a scheduler round trip
    const ops = fc.array(
      fc.oneof(
        { arbitrary: fc.constantFrom("ok", "fail", "ignored"), weight: 9 },
        { arbitrary: fc.constant("wait"), weight: 1 }
      ),
      { maxLength: 60 }
    )

    it.effect.prop(
      "errors the predicate excludes are invisible to the state machine",
      { ops },
      ({ ops }) =>
        Effect.gen(function*() {
          const options = {
            failureThreshold: 3,
            failureRateThreshold: 0.5,
            windowSize: 8,
            minimumCalls: 4,
            resetTimeout: "10 seconds",
            resetBackoffFactor: 2,
            isFailure: (e: unknown) => !(e instanceof NotFound)
          } as const
          const withIgnored = yield* make("with-ignored", options)
          const without = yield* make("without", options)
          const run = (breaker: CircuitBreaker.CircuitBreaker, op: string) =>
            op === "ok" ? succeed(breaker) : op === "fail" ? failWith(breaker) : failWith(breaker, new NotFound())
          for (const op of ops) {
            if (op === "wait") {
              yield* TestClock.adjust("10 seconds")
              continue
            }
            yield* run(withIgnored, op)
            if (op !== "ignored") yield* run(without, op)
          }
          const a = yield* withIgnored.snapshot
          const b = yield* without.snapshot
          const { calls: _a, ignored: _ai, name: _an, rejections: ra, resource: _ar, ...restA } = a
          const { calls: _b, ignored: _bi, name: _bn, rejections: rb, resource: _br, ...restB } = b
          expect(restA).toEqual(restB)
          expect(a.ignored + ra - rb).toBe(ops.filter((op) => op === "ignored").length)
        }),
      { fastCheck: { numRuns: 60 } }
    )

    it.effect.prop(
      "successes and excluded errors alone never trip the breaker",
      { ops: fc.array(fc.boolean(), { minLength: 1, maxLength: 100 }) },
      ({ ops }) =>
        Effect.gen(function*() {
          const breaker = yield* make("never-trips", {
            failureThreshold: 1,
            failureRateThreshold: 0.01,
            minimumCalls: 1,
            isFailure: (e) => !(e instanceof NotFound)
          })
          for (const ok of ops) yield* ok ? succeed(breaker) : failWith(breaker, new NotFound())
          expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", trips: 0, failures: 0, rejections: 0 })
        }),
      { fastCheck: { numRuns: 50 } }
    )

    it.effect("defects count as failures, interruptions never do; a throwing predicate counts the error", () =>
      Effect.gen(function*() {
        const breaker = yield* make("causes", { failureThreshold: 3, isFailure: () => false })
        yield* times(10, Effect.exit(breaker.execute(Effect.interrupt)))
        yield* times(10, failWith(breaker))
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", interrupted: 10, ignored: 10 })
        yield* times(3, Effect.exit(breaker.execute(Effect.die("defect"))))
        expect(yield* breaker.snapshot).toMatchObject({ state: "Open", failures: 3 })

        const throwing = yield* make("throwing-predicate", {
          failureThreshold: 1,
          isFailure: () => {
            throw new Error("bad predicate")
          }
        })
        yield* failWith(throwing)
        expect(yield* throwing.state).toBe("Open")
      }))
  })

  describe("manual control", () => {
    it.effect("isolate rejects everything with an infinite retryAfter until reset", () =>
      Effect.gen(function*() {
        const breaker = yield* make("isolate", { failureThreshold: 1, resetTimeout: "1 second" })
        yield* breaker.isolate
        const exit = yield* succeed(breaker)
        expect(rejectedWith(exit)).toMatchObject({ state: "Isolated", retryAfter: Infinity })
        yield* TestClock.adjust("1 hour")
        expect(yield* breaker.state).toBe("Isolated")
        expect(rejectedWith(yield* succeed(breaker)).state).toBe("Isolated")
        const snapshot = yield* breaker.snapshot
        expect(snapshot.openedAt).toEqual(Option.some(0))
        expect(snapshot.nextAttemptAt).toEqual(Option.none())

        yield* breaker.reset
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("reset closes an open breaker and clears its counters and backoff", () =>
      Effect.gen(function*() {
        const breaker = yield* make("reset", { failureThreshold: 2, resetBackoffFactor: 3 })
        yield* trip(breaker, 2)
        yield* TestClock.adjust("30 seconds")
        yield* failWith(breaker) // probe fails: open 90 s
        yield* breaker.reset
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", consecutiveFailures: 0, windowCalls: 0 })
        yield* trip(breaker, 2)
        expect((yield* breaker.snapshot).nextAttemptAt).toEqual(Option.some(60_000))
      }))

    it.effect("disable lets everything through and records nothing", () =>
      Effect.gen(function*() {
        const breaker = yield* make("disable", { failureThreshold: 1 })
        yield* failWith(breaker)
        yield* succeed(breaker) // rejected
        yield* breaker.disable
        yield* times(20, failWith(breaker))
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.snapshot).toMatchObject({ state: "Disabled", failures: 1, successes: 0, rejections: 1 })
        yield* breaker.reset
        yield* failWith(breaker)
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("events", () => {
    it.scoped("every transition is published in order and given to onStateChange, with a log line", () =>
      Effect.gen(function*() {
        const seen: Array<CircuitBreaker.StateChange> = []
        const done = yield* Deferred.make<void>()
        const logs: Array<{ level: string; message: string; breaker: unknown; to: unknown }> = []
        const logger = Logger.make(({ annotations, logLevel, message }) => {
          logs.push({
            level: logLevel.label,
            message: Array.isArray(message) ? message.join(" ") : String(message),
            breaker: Option.getOrUndefined(HashMap.get(annotations, "breaker")),
            to: Option.getOrUndefined(HashMap.get(annotations, "to"))
          })
        })
        const breaker = yield* make("events", {
          failureThreshold: 1,
          resetTimeout: "10 seconds",
          onStateChange: (change) =>
            Effect.suspend(() => {
              seen.push(change)
              return seen.length === 9 ? Deferred.succeed(done, undefined) : Effect.void
            })
        })
        const queue = yield* breaker.subscribe
        const collected = yield* Effect.fork(Stream.runCollect(Stream.take(breaker.events, 9)))
        yield* awaitSuspended(collected)

        yield* Effect.gen(function*() {
          yield* failWith(breaker) // Closed -> Open at 0
          yield* TestClock.adjust("10 seconds")
          yield* failWith(breaker) // Open -> HalfOpen -> Open at 10 s
          yield* TestClock.adjust("10 seconds")
          yield* succeed(breaker) // Open -> HalfOpen -> Closed at 20 s
          yield* breaker.isolate
          yield* breaker.reset
          yield* breaker.disable
          yield* breaker.reset
          yield* Deferred.await(done)
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))

        const expected = [
          ["Closed", "Open", 0, "consecutive-failures"],
          ["Open", "HalfOpen", 10_000, "reset-timeout-elapsed"],
          ["HalfOpen", "Open", 10_000, "probe-failed"],
          ["Open", "HalfOpen", 20_000, "reset-timeout-elapsed"],
          ["HalfOpen", "Closed", 20_000, "probe-succeeded"],
          ["Closed", "Isolated", 20_000, "isolated"],
          ["Isolated", "Closed", 20_000, "reset"],
          ["Closed", "Disabled", 20_000, "disabled"],
          ["Disabled", "Closed", 20_000, "reset"]
        ]
        const events = Chunk.toReadonlyArray(yield* Fiber.join(collected))
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(queue))).toEqual(events)
        expect(events.map((e) => [e.from, e.to, e.at, e.reason])).toEqual(expected)
        expect(events.every((e) => e.breaker === "test/events" && e.service === "test")).toBe(true)
        expect(seen).toEqual(events)

        expect(logs.map((l) => [l.level, l.to])).toEqual(
          expected.map(([, to]) => [to === "Open" || to === "Isolated" ? "WARN" : "INFO", to])
        )
        expect(logs[0]).toMatchObject({ breaker: "test/events", message: expect.stringContaining("Closed -> Open") })
      }))

    it.effect("a failing or dying onStateChange hook is logged and does not break the breaker", () =>
      Effect.gen(function*() {
        const errors: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel.label === "ERROR") errors.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        let calls = 0
        const breaker = yield* make("bad-hook", {
          failureThreshold: 1,
          resetTimeout: "1 second",
          onStateChange: () =>
            Effect.suspend(() => {
              calls++
              return calls % 2 === 0 ? Effect.fail("hook failed") : Effect.die("hook died")
            })
        })
        yield* Effect.gen(function*() {
          yield* failWith(breaker)
          yield* TestClock.adjust("1 second")
          expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
          for (let i = 0; i < 10 && calls < 3; i++) yield* Effect.yieldNow()
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        expect(calls).toBe(3)
        expect(errors).toHaveLength(3)
        expect(errors[0]).toContain("onStateChange hook failed")
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("metrics count calls by outcome, rejections by state, and the state gauge follows", () =>
      Effect.gen(function*() {
        const breaker = yield* make("metrics", { failureThreshold: 2, isFailure: (e) => !(e instanceof NotFound) })
        const labelled = <T, I, O>(metric: Metric.Metric<T, I, O>, key: string, value: string) =>
          Metric.tagged(scheme(metric, "metrics"), key, value)
        const calls = (outcome: string) =>
          Effect.map(Metric.value(labelled(CircuitBreaker.callsTotal, "outcome", outcome)), (s) => s.count)
        const gauge = Effect.map(
          Metric.value(
            scheme(CircuitBreaker.stateGauge, "metrics")
          ),
          (s) => s.value
        )
        expect(yield* gauge).toBe(0)
        yield* succeed(breaker)
        yield* failWith(breaker, new NotFound())
        yield* trip(breaker, 2)
        yield* times(3, succeed(breaker))
        expect(yield* calls("success")).toBe(1)
        expect(yield* calls("ignored")).toBe(1)
        expect(yield* calls("failure")).toBe(2)
        expect((yield* Metric.value(labelled(CircuitBreaker.rejectionsTotal, "state", "Open"))).count).toBe(3)
        expect(yield* gauge).toBe(2)
        yield* breaker.isolate
        expect(yield* gauge).toBe(3)
      }))
  })

  describe("options", () => {
    const cases: ReadonlyArray<[string, Partial<CircuitBreaker.Options>]> = [
      ["service", { service: "" }],
      ["resource", { resource: "a\nb" }],
      ["failureThreshold", { failureThreshold: 0 }],
      ["failureThreshold", { failureThreshold: -1 }],
      ["failureThreshold", { failureThreshold: Number.NaN }],
      ["failureThreshold", { failureThreshold: 1.5 }],
      ["failureRateThreshold", { failureRateThreshold: 0 }],
      ["failureRateThreshold", { failureRateThreshold: 1.5 }],
      ["failureRateThreshold", { failureRateThreshold: Number.NaN }],
      ["slowCallRateThreshold", { slowCallRateThreshold: 2 }],
      ["slowCallDuration", { slowCallDuration: -1 }],
      ["windowType", { windowType: "sliding" as "count" }],
      ["windowSize", { windowSize: 0 }],
      ["windowSize", { windowSize: 2_000_000 }],
      ["windowSize", { windowType: "time", windowSize: 100_000 }],
      ["minimumCalls", { minimumCalls: 0 }],
      ["minimumCalls", { windowSize: 5, minimumCalls: 6 }],
      ["resetTimeout", { resetTimeout: 0 }],
      ["resetTimeout", { resetTimeout: Number.NaN }],
      ["resetTimeout", { resetTimeout: "soon" as Duration.DurationInput }],
      ["resetTimeout", { resetTimeout: Duration.infinity }],
      ["resetBackoffFactor", { resetBackoffFactor: 0.5 }],
      ["resetBackoffFactor", { resetBackoffFactor: Infinity }],
      ["maxResetTimeout", { resetTimeout: "1 minute", maxResetTimeout: "30 seconds" }],
      ["halfOpenMaxProbes", { halfOpenMaxProbes: 0 }],
      ["successThreshold", { successThreshold: -1 }],
      ["isFailure", { isFailure: "yes" as unknown as () => boolean }]
    ]
    it.effect("invalid options fail with InvalidOptionsError naming the option", () =>
      Effect.gen(function*() {
        for (const [option, options] of cases) {
          const result = yield* Effect.either(make("invalid", options))
          expect(Either.isLeft(result) ? [result.left._tag, result.left.option] : result).toEqual([
            "InvalidOptionsError",
            option
          ])
        }
      }))

    it.effect("defaults: 5 consecutive failures, 30 s open, a count window of rate rules off", () =>
      Effect.gen(function*() {
        const breaker = yield* make("defaults")
        yield* times(100, Effect.zipRight(times(4, failWith(breaker)), succeed(breaker)))
        expect(yield* breaker.snapshot).toMatchObject({ state: "Closed", windowCalls: 100, failureRate: 0.8 })
        yield* trip(breaker)
        expect((yield* breaker.snapshot).nextAttemptAt).toEqual(Option.some(30_000))
      }))
  })

  describe("waiting for a state, and the live half-open step", () => {
    it.scoped("liveHalfOpen: Open -> HalfOpen is announced at the reset time with no call at all, again after backoff", () =>
      Effect.gen(function*() {
        const seen: Array<CircuitBreaker.StateChange> = []
        const halfOpens = yield* Queue.unbounded<CircuitBreaker.StateChange>()
        const breaker = yield* CircuitBreaker.makeScoped({
          service: "test",
          resource: "live",
          failureThreshold: 2,
          resetTimeout: "30 seconds",
          resetBackoffFactor: 2,
          liveHalfOpen: true,
          onStateChange: (change) =>
            Effect.suspend(() => {
              seen.push(change)
              return change.to === "HalfOpen" ? Queue.offer(halfOpens, change) : Effect.void
            })
        })
        const events = yield* breaker.subscribe
        yield* trip(breaker, 2) // Open at 0, until 30 s
        yield* TestClock.adjust("29999 millis")
        expect(yield* Queue.size(halfOpens)).toBe(0)
        yield* TestClock.adjust("1 millis")
        // the hook ran with no call and no read of the breaker
        expect(yield* Queue.take(halfOpens)).toMatchObject({ from: "Open", to: "HalfOpen", at: 30_000 })
        yield* failWith(breaker) // the probe fails at 30 s: Open until 30 + 60 s (backoff)
        yield* TestClock.adjust("60 seconds")
        expect(yield* Queue.take(halfOpens)).toMatchObject({ from: "Open", to: "HalfOpen", at: 90_000 })
        expect(seen.map((c) => [c.from, c.to, c.at])).toEqual([
          ["Closed", "Open", 0],
          ["Open", "HalfOpen", 30_000],
          ["HalfOpen", "Open", 30_000],
          ["Open", "HalfOpen", 90_000]
        ])
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events))).toEqual(seen)
        // the gauge followed too, with nobody calling
        const gauge = yield* Metric.value(
          scheme(CircuitBreaker.stateGauge, "live")
        )
        expect(gauge.value).toBe(1)
      }))

    it.scoped("without liveHalfOpen, an idle breaker announces HalfOpen only when observed", () =>
      Effect.gen(function*() {
        const breaker = yield* make("lazy", { failureThreshold: 1, resetTimeout: "10 seconds" })
        const events = yield* breaker.subscribe
        yield* failWith(breaker)
        yield* TestClock.adjust("1 minute")
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events)).map((c) => c.to)).toEqual(["Open"])
        expect(yield* breaker.state).toBe("HalfOpen")
        expect(yield* Queue.take(events)).toMatchObject({ to: "HalfOpen", at: 60_000 })
      }))

    it.scoped("the live timer stops with its scope", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const breaker = yield* CircuitBreaker.makeScoped({
          service: "test",
          resource: "live-scope",
          failureThreshold: 1,
          resetTimeout: "10 seconds",
          liveHalfOpen: true
        }).pipe(Scope.extend(scope))
        const events = yield* breaker.subscribe
        yield* failWith(breaker)
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("1 minute")
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events)).map((c) => c.to)).toEqual(["Open"])
      }))

    it.effect("awaitState(\"HalfOpen\") on an idle Open breaker ends at the reset time", () =>
      Effect.gen(function*() {
        const breaker = yield* make("await-half-open", { failureThreshold: 1, resetTimeout: "10 seconds" })
        yield* failWith(breaker)
        const waiter = yield* Effect.fork(breaker.awaitState("HalfOpen"))
        yield* TestClock.adjust("9 seconds")
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.await(waiter)).toEqual(Exit.void)
        expect((yield* breaker.snapshot).state).toBe("HalfOpen")
      }))

    it.effect("awaitClosed returns at once when Closed, and otherwise when a probe closes the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* make("await-closed", { failureThreshold: 1, resetTimeout: "10 seconds" })
        yield* breaker.awaitClosed
        yield* failWith(breaker)
        const waiters = yield* Effect.forkAll([breaker.awaitClosed, breaker.awaitClosed])
        yield* TestClock.adjust("1 minute")
        // HalfOpen now, not Closed: still waiting
        expect(Option.isNone(yield* Fiber.poll(waiters))).toBe(true)
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        yield* Fiber.join(waiters)
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("a caller waiting out an open circuit can be interrupted, and awaitClosed composes with a timeout", () =>
      Effect.gen(function*() {
        const breaker = yield* make("await-interrupt", { failureThreshold: 1 })
        yield* failWith(breaker)
        const waiter = yield* Effect.fork(breaker.awaitClosed)
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(waiter)
        expect(Exit.isInterrupted(yield* Fiber.await(waiter))).toBe(true)
        const timedOut = yield* Effect.fork(Effect.timeoutOption(breaker.awaitClosed, "5 seconds"))
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(timedOut)).toEqual(Option.none())
      }))
  })

  describe("rules as values", () => {
    it.effect("make accepts trip rules; they cannot be mixed with the flat rule options", () =>
      Effect.gen(function*() {
        const breaker = yield* make("rules", {
          rules: [
            CircuitBreakerMachine.consecutiveFailures(Infinity),
            CircuitBreakerMachine.failureRate({ threshold: 0.5, window: { calls: 4 }, minimumCalls: 4 })
          ]
        })
        yield* succeed(breaker)
        yield* succeed(breaker)
        yield* failWith(breaker)
        expect(yield* breaker.state).toBe("Closed")
        yield* failWith(breaker)
        expect(yield* breaker.snapshot).toMatchObject({ state: "Open", failureRate: 0.5, windowCalls: 4 })

        const mixed = yield* Effect.flip(make("mixed", { rules: [], failureThreshold: 3 }))
        expect(mixed).toMatchObject({ _tag: "InvalidOptionsError", option: "rules" })
        const bad = yield* Effect.flip(make("bad-rule", { rules: [CircuitBreakerMachine.consecutiveFailures(-1)] }))
        expect(bad).toMatchObject({ _tag: "InvalidOptionsError", option: "rules[0]" })
      }))
  })

  it.effect("withCircuitBreaker is data-first and pipeable", () =>
    Effect.gen(function*() {
      const breaker = yield* make("dual", { failureThreshold: 1 })
      expect(yield* Effect.succeed(1).pipe(CircuitBreaker.withCircuitBreaker(breaker))).toBe(1)
      expect(yield* CircuitBreaker.withCircuitBreaker(Effect.succeed(2), breaker)).toBe(2)
      const error = yield* Effect.flip(CircuitBreaker.withCircuitBreaker(Effect.fail(new Boom()), breaker))
      expect(error).toBeInstanceOf(Boom)
      const rejected = yield* Effect.flip(Effect.succeed(3).pipe(CircuitBreaker.withCircuitBreaker(breaker)))
      expect(rejected._tag).toBe("CircuitOpenError")
    }))
})
