import { Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, Schedule } from "effect"
import * as TimerQueue from "../src/internal/timerQueue.js"

// The live-clock timers of Timeout (TestClock never reaches them), so these
// tests use real time. They never assert how soon a timer fires, only that it
// does not fire early, in what order timers fire and what the queue holds:
// each test waits for the timers it expects (the test's own timeout is the
// only deadline), so a busy machine makes them slower, never red.

/** A promise resolved by the `n`th call of `tick`, with the calls' arguments. */
const countdown = <A>(n: number) => {
  const seen: Array<A> = []
  let resolve!: (seen: ReadonlyArray<A>) => void
  const done = new Promise<ReadonlyArray<A>>((r) => {
    resolve = r
  })
  const tick = (a: A) => {
    seen.push(a)
    if (seen.length === n) resolve(seen)
  }
  return { done, seen, tick } as const
}

describe("TimerQueue (Timeout's live-clock timers)", () => {
  it("fires once the duration has passed, in the order the timers were armed", async () => {
    const { done, tick } = countdown<readonly [number, number]>(5)
    const start = performance.now()
    for (let i = 0; i < 5; i++) {
      TimerQueue.schedule(25, () => tick([i, performance.now() - start]))
    }
    const fired = await done
    expect(fired.map(([i]) => i)).toEqual([0, 1, 2, 3, 4])
    // never early (a lower bound holds on any machine); how late depends on the machine
    for (const [, at] of fired) expect(at).toBeGreaterThanOrEqual(24)
  })

  it("a cancelled timer never fires; the others still do", async () => {
    const fired: Array<string> = []
    const { done, tick } = countdown<string>(1)
    const cancelA = TimerQueue.schedule(21, () => fired.push("a"))
    TimerQueue.schedule(21, () => {
      fired.push("b")
      tick("b")
    })
    const cancelC = TimerQueue.schedule(21, () => fired.push("c"))
    const after = countdown<string>(1)
    // armed after "c" on the same duration: it fires after "c" would have
    TimerQueue.schedule(21, () => after.tick("last"))
    cancelA()
    cancelC()
    cancelC() // twice: no effect
    await done
    await after.done
    expect(fired).toEqual(["b"])
  })

  it("an idle queue holds no referenced Node timer (it never keeps the process alive)", async () => {
    const cancels = Array.from({ length: 100 }, () => TimerQueue.schedule(10_000, () => {}))
    expect(TimerQueue.unsafeInspect(10_000)).toEqual({ held: 100, armed: true })
    for (const cancel of cancels) cancel()
    expect(TimerQueue.unsafeInspect(10_000)).toEqual({ held: 0, armed: false })
    // and after the last one fires
    const { done, tick } = countdown<void>(1)
    TimerQueue.schedule(22, () => tick())
    expect(TimerQueue.unsafeInspect(22)).toEqual({ held: 1, armed: true })
    await done
    expect(TimerQueue.unsafeInspect(22)).toEqual({ held: 0, armed: false })
  })

  it("memory follows the timers in flight, not the timers armed", () => {
    const longLived = TimerQueue.schedule(30_000, () => {})
    for (let i = 0; i < 100_000; i++) TimerQueue.schedule(30_000, () => {})()
    // one live entry, the cancelled ones compacted away as they pile up
    expect(TimerQueue.unsafeInspect(30_000).held).toBeLessThan(2_000)
    longLived()
    expect(TimerQueue.unsafeInspect(30_000)).toEqual({ held: 0, armed: false })
  })

  it("a timer armed from a firing one fires on its own time", async () => {
    const { done, seen, tick } = countdown<readonly [string, number]>(2)
    let secondFiredBeforeFirstReturned = false
    TimerQueue.schedule(23, () => {
      tick(["first", performance.now()])
      TimerQueue.schedule(23, () => tick(["second", performance.now()]))
      // the queue's sweep is still running: the new timer must wait for its own deadline
      secondFiredBeforeFirstReturned = seen.length > 1
    })
    const [[first, firstAt], [second, secondAt]] = await done
    expect([first, second]).toEqual(["first", "second"])
    expect(secondFiredBeforeFirstReturned).toBe(false)
    expect(secondAt - firstAt).toBeGreaterThanOrEqual(22)
    expect(TimerQueue.unsafeInspect(23)).toEqual({ held: 0, armed: false })
  })

  it.live("Timeout on the live clock: a suspended call past its deadline fails, calls on time succeed", () =>
    Effect.gen(function*() {
      const late = yield* Timeout.make({ duration: "30 millis" })
      const start = performance.now()
      const failed = yield* Effect.exit(late.execute(Effect.never))
      expect(Exit.isFailure(failed)).toBe(true)
      expect(performance.now() - start).toBeGreaterThanOrEqual(29)
      expect(TimerQueue.unsafeInspect(30)).toEqual({ held: 0, armed: false })

      // 500 suspended calls whose deadline is far away (a minute, so no busy
      // machine can make them late): each arms a timer in the queue; released,
      // they all succeed and every timer is cancelled.
      const onTime = yield* Timeout.make({ duration: "61 seconds" })
      const gate = yield* Deferred.make<void>()
      const calls = yield* Effect.fork(Effect.all(
        Array.from({ length: 500 }, (_, i) => Effect.either(onTime.execute(Effect.as(Deferred.await(gate), i)))),
        { concurrency: "unbounded" }
      ))
      yield* Effect.sync(() => TimerQueue.unsafeInspect(61_000).held).pipe(
        Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (held) => held === 500 })
      )
      expect(TimerQueue.unsafeInspect(61_000)).toEqual({ held: 500, armed: true })
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Fiber.join(calls)
      expect(results).toEqual(Array.from({ length: 500 }, (_, i) => Either.right(i)))
      expect(TimerQueue.unsafeInspect(61_000)).toEqual({ held: 0, armed: false })
    }))
})
