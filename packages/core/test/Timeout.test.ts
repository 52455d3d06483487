import { ResilienceError, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Exit, Fiber, FiberRef, Ref, Supervisor, TestClock } from "effect"

class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

const elapsedSince = (start: number) => Effect.map(TestClockNow, (now) => now - start)
const TestClockNow = Effect.clockWith((clock) => clock.currentTimeMillis)
// Background interruptions are processed on the next ticks of the scheduler.
const settle = Effect.repeatN(Effect.yieldNow(), 5)

describe("Timeout", () => {
  it.effect("fails with TimeoutError { duration, operation } exactly on time and interrupts the inner effect", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "100 millis", operation: "getQuote" })
      const interrupted = yield* Deferred.make<void>()
      const fiber = yield* timeout.execute(
        Effect.sleep("1 second").pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      ).pipe(Effect.exit, Effect.fork)
      yield* TestClock.adjust("99 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.join(fiber)
      expect(exit).toEqual(
        Exit.fail(new ResilienceError.TimeoutError({ duration: Duration.millis(100), operation: "getQuote" }))
      )
      yield* Deferred.await(interrupted)
    }))

  it.effect("an uninterruptible inner does not delay the error past the duration; it still completes", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "50 millis" })
      const finished = yield* Ref.make(false)
      const start = yield* TestClockNow
      const fiber = yield* timeout.execute(
        Effect.uninterruptible(Effect.zipRight(Effect.sleep("500 millis"), Ref.set(finished, true)))
      ).pipe(Effect.exit, Effect.fork)
      yield* TestClock.adjust("50 millis")
      const exit = yield* Fiber.join(fiber)
      expect(exit).toEqual(Exit.fail(new ResilienceError.TimeoutError({ duration: Duration.millis(50) })))
      expect(yield* elapsedSince(start)).toBe(50)
      expect(yield* Ref.get(finished)).toBe(false)
      // The disconnected work runs to its end in the background: nothing leaks.
      yield* TestClock.adjust("450 millis")
      yield* Effect.yieldNow()
      expect(yield* Ref.get(finished)).toBe(true)
    }))

  it.effect("a fast inner passes its value and its typed error through unchanged", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "1 second" })
      expect(yield* timeout.execute(Effect.succeed(42))).toBe(42)
      expect(yield* Effect.flip(timeout.execute(Effect.fail("boom" as const)))).toBe("boom")
      // Suspending, but in time.
      const fiber = yield* Effect.fork(timeout.execute(Effect.as(Effect.sleep("999 millis"), "late but fine")))
      yield* TestClock.adjust("999 millis")
      expect(yield* Fiber.join(fiber)).toBe("late but fine")
      const failing = yield* Effect.fork(
        Effect.flip(timeout.execute(Effect.zipRight(Effect.sleep("10 millis"), Effect.fail(new Error("typed")))))
      )
      yield* TestClock.adjust("10 millis")
      expect((yield* Fiber.join(failing)).message).toBe("typed")
      // Defects pass through as defects.
      const defect = yield* Effect.exit(timeout.execute(Effect.die("defect")))
      expect(defect).toEqual(Exit.die("defect"))
    }))

  it.effect("no fiber is left running: not the inner, not the timer", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "1 second" })
      const supervisor = yield* Supervisor.track
      const live = Effect.zipRight(settle, supervisor.value)
      // completes in time
      const fast = yield* Effect.fork(
        Effect.supervised(timeout.execute(Effect.as(Effect.sleep("10 millis"), 1)), supervisor)
      )
      yield* TestClock.adjust("10 millis")
      expect(yield* Fiber.join(fast)).toBe(1)
      expect(yield* live).toEqual([])
      // times out, inner slow to stop
      const slow = yield* Effect.fork(
        Effect.supervised(timeout.execute(Effect.uninterruptible(Effect.sleep("3 seconds"))), supervisor)
      )
      yield* TestClock.adjust("1 second")
      expect(Exit.isFailure(yield* Fiber.await(slow))).toBe(true)
      expect((yield* live).length).toBe(1) // the disconnected inner, still finishing
      yield* TestClock.adjust("2 seconds")
      expect(yield* live).toEqual([])
    }))

  it.effect("interrupting the caller interrupts the inner effect (and waits for it)", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "10 seconds" })
      const supervisor = yield* Supervisor.track
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Ref.make(false)
      const fiber = yield* Effect.fork(Effect.supervised(
        timeout.execute(
          Deferred.succeed(started, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Ref.set(interrupted, true))
          )
        ),
        supervisor
      ))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(interrupted)).toBe(true)
      yield* settle
      expect(yield* supervisor.value).toEqual([])
    }))

  it.effect("the inner effect sees the caller's context, services, FiberRefs and log annotations", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "1 second" })
      const ref = FiberRef.unsafeMake("default")
      const read = Effect.all({
        greeting: Greeting,
        ref: FiberRef.get(ref),
        annotations: Effect.map(FiberRef.get(FiberRef.currentLogAnnotations), (m) => m.pipe((x) => [...x]))
      })
      const check = (inner: typeof read) =>
        timeout.execute(inner).pipe(
          Effect.locally(ref, "set by caller"),
          Effect.annotateLogs("requestId", "r-1"),
          Effect.provideService(Greeting, "hello")
        )
      const sync = yield* check(read)
      expect(sync).toEqual({ greeting: "hello", ref: "set by caller", annotations: [["requestId", "r-1"]] })
      const fiber = yield* Effect.fork(check(Effect.zipRight(Effect.sleep("1 millis"), read)))
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toEqual(sync)
    }))

  it.effect("FiberRefs are forked as Effect.fork forks them; changes inside stay inside", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "1 second" })
      // a user FiberRef whose fork is not the identity: the inner sees the forked value, on every call
      let forks = 0
      const forked = FiberRef.unsafeMake(0, {
        fork: (n) => {
          forks++
          return n + 1000
        }
      })
      const plain = FiberRef.unsafeMake("caller")
      const viaFork = yield* Effect.fork(FiberRef.get(forked)).pipe(
        Effect.flatMap(Fiber.join),
        Effect.locally(forked, 1)
      )
      const viaTimeout = yield* timeout.execute(FiberRef.get(forked)).pipe(Effect.locally(forked, 1))
      expect(viaTimeout).toBe(viaFork)
      expect(yield* timeout.execute(FiberRef.get(forked)).pipe(Effect.locally(forked, 2))).toBe(1002)
      expect(forks).toBe(3)
      // a set inside the timed effect is not merged back (sync and suspending inner)
      yield* timeout.execute(FiberRef.set(plain, "inner"))
      expect(yield* FiberRef.get(plain)).toBe("caller")
      const fiber = yield* Effect.fork(
        Effect.zipRight(
          timeout.execute(Effect.zipRight(Effect.sleep("1 millis"), FiberRef.set(plain, "inner"))),
          FiberRef.get(plain)
        )
      )
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("caller")
      // two calls from the same caller state each start from the caller's values
      const counter = FiberRef.unsafeMake(0)
      const bump = Effect.zipRight(FiberRef.update(counter, (n) => n + 1), FiberRef.get(counter))
      expect(yield* timeout.execute(bump)).toBe(1)
      expect(yield* timeout.execute(bump)).toBe(1)
    }))

  it.effect("the inner runs with the caller's interruptibility, not a pending interruption of the caller", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "1 second" })
      const ran = yield* Ref.make(0)
      const self = yield* Deferred.make<void>()
      // the caller is interrupted while uninterruptible: the timed effect still runs to completion
      const fiber = yield* Effect.fork(Effect.uninterruptible(
        Effect.zipRight(
          Deferred.await(self),
          Effect.zipRight(
            timeout.execute(Ref.update(ran, (n) => n + 1)),
            timeout.execute(Effect.interruptible(Ref.update(ran, (n) => n + 1)))
          )
        )
      ))
      yield* Effect.yieldNow()
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(self, undefined)
      yield* Fiber.join(interrupting)
      expect(yield* Ref.get(ran)).toBe(2)
    }))

  it.effect("withTimeout is dual", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: 1000 })
      expect(timeout.duration).toEqual(Duration.seconds(1))
      expect(yield* Timeout.withTimeout(Effect.succeed(1), timeout)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(Timeout.withTimeout(timeout))).toBe(2)
    }))

  it.effect("invalid durations are an InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      for (const duration of [0, -1, Number.NaN, "soon", Duration.infinity] as const) {
        const error = yield* Effect.flip(Timeout.make({ duration: duration as Duration.DurationInput }))
        expect(error).toBeInstanceOf(ResilienceError.InvalidOptionsError)
        expect(error.option).toBe("duration")
      }
      const error = yield* Effect.flip(Timeout.make({ duration: "1 second", operation: "" }))
      expect(error.option).toBe("operation")
    }))
})
