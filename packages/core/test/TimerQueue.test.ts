import { Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as TimerQueue from "../src/internal/timerQueue.js"

// The live-clock timers of Timeout (TestClock never reaches them), so these
// tests use real time, in milliseconds.
const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

describe("TimerQueue (Timeout's live-clock timers)", () => {
  it("fires once the duration has passed, in the order the timers were armed", async () => {
    const fired: Array<number> = []
    const start = performance.now()
    const at: Array<number> = []
    for (let i = 0; i < 5; i++) {
      TimerQueue.schedule(25, () => {
        fired.push(i)
        at.push(performance.now() - start)
      })
    }
    await sleep(80)
    expect(fired).toEqual([0, 1, 2, 3, 4])
    for (const t of at) expect(t).toBeGreaterThanOrEqual(24)
  })

  it("a cancelled timer never fires; the others still do", async () => {
    const fired: Array<string> = []
    const cancelA = TimerQueue.schedule(21, () => fired.push("a"))
    TimerQueue.schedule(21, () => fired.push("b"))
    const cancelC = TimerQueue.schedule(21, () => fired.push("c"))
    cancelA()
    cancelC()
    cancelC() // twice: no effect
    await sleep(70)
    expect(fired).toEqual(["b"])
  })

  it("an idle queue holds no referenced Node timer (it never keeps the process alive)", async () => {
    const cancels = Array.from({ length: 100 }, () => TimerQueue.schedule(10_000, () => {}))
    expect(TimerQueue.unsafeInspect(10_000)).toEqual({ held: 100, armed: true })
    for (const cancel of cancels) cancel()
    expect(TimerQueue.unsafeInspect(10_000)).toEqual({ held: 0, armed: false })
    // and after the last one fires
    TimerQueue.schedule(22, () => {})
    await sleep(70)
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
    const fired: Array<string> = []
    TimerQueue.schedule(23, () => {
      fired.push("first")
      TimerQueue.schedule(23, () => fired.push("second"))
    })
    await sleep(35)
    expect(fired).toEqual(["first"])
    await sleep(45)
    expect(fired).toEqual(["first", "second"])
  })

  it.live("Timeout on the live clock: a suspended call past its deadline fails, calls on time succeed", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ duration: "30 millis" })
      const start = Date.now()
      const late = yield* Effect.exit(timeout.execute(Effect.never))
      expect(Exit.isFailure(late)).toBe(true)
      expect(Date.now() - start).toBeGreaterThanOrEqual(29)
      // 500 concurrent calls that finish well within their deadline: none times out. The deadline is
      // generous (5 s for a 1 ms sleep): 500 timers of 30 ms failed here under a loaded CPU (rule 4)
      const generous = yield* Timeout.make({ duration: "5 seconds" })
      const onTime = yield* Effect.all(
        Array.from({ length: 500 }, () => Effect.either(generous.execute(Effect.promise(() => sleep(1))))),
        { concurrency: "unbounded" }
      )
      expect(onTime.filter((result) => result._tag === "Left")).toEqual([])
      expect(TimerQueue.unsafeInspect(5000)).toEqual({ held: 0, armed: false })
      expect(TimerQueue.unsafeInspect(30)).toEqual({ held: 0, armed: false })
    }))
})
