import { Bulkhead } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  FiberId,
  HashMap,
  Logger,
  LogLevel,
  Metric,
  Option,
  TestClock
} from "effect"

const isRejected = (exit: Exit.Exit<unknown, unknown>, reason: "full" | "timeout"): boolean =>
  Exit.isFailure(exit) &&
  Option.exists(
    Cause.failureOption(exit.cause),
    (e) => e instanceof Bulkhead.BulkheadRejectedError && e.reason === reason
  )

// A call that holds its permit until `gate` opens.
const holdUntil = (gate: Deferred.Deferred<void>) => Deferred.await(gate)

const counterValue = (name: string, tags: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      // the label scheme of Observability: policy, service (the bulkhead's name), operation, then the counter's own
      const all: Record<string, string> = { policy: "bulkhead", operation: "", ...tags }
      const found = pair.metricKey.tags.every((t) => all[t.key] === t.value) &&
        Object.keys(all).length === pair.metricKey.tags.length
      if (found) return Number((pair.metricState as unknown as { count: number | bigint }).count)
    }
    return 0
  })

describe("Bulkhead", () => {
  it.effect("runs a call at once while a permit is free, and returns the permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "hot", maxConcurrent: 2 })
      const seen = yield* bulkhead.execute(bulkhead.stats)
      expect(seen).toEqual({
        name: "hot",
        active: 1,
        available: 1,
        waiting: 0,
        maxConcurrent: 2,
        maxWaiting: 2,
        rejected: { full: 0, timeout: 0 }
      })
      expect(yield* bulkhead.stats).toEqual({ ...seen, active: 0, available: 2 })
      // No suspension on the success path: runSync would throw on an async boundary.
      expect(Effect.runSync(bulkhead.execute(Effect.succeed(42)))).toBe(42)
      expect(bulkhead.unsafeStats().active).toBe(0)
    }))

  it.effect("withPermit is dual", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "dual", maxConcurrent: 1 })
      expect(yield* Effect.succeed(1).pipe(Bulkhead.withPermit(bulkhead))).toBe(1)
      expect(yield* Bulkhead.withPermit(Effect.succeed(2), bulkhead)).toBe(2)
      expect(bulkhead.unsafeStats().active).toBe(0)
    }))

  it.effect("defaults: 10 concurrent, a queue as deep as the pool, no acquire timeout", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "defaults" })
      expect(bulkhead.maxConcurrent).toBe(10)
      expect(bulkhead.maxWaiting).toBe(10)
      expect(bulkhead.acquireTimeout).toEqual(Option.none())
      const sized = yield* Bulkhead.make({ name: "sized", maxConcurrent: 4, acquireTimeout: "2 seconds" })
      expect(sized.maxWaiting).toBe(4)
      expect(sized.acquireTimeout).toEqual(Option.some(Duration.seconds(2)))
      const infinite = yield* Bulkhead.make({ name: "inf", acquireTimeout: Duration.infinity })
      expect(infinite.acquireTimeout).toEqual(Option.none())
    }))

  it.effect("rejects with reason \"full\" when every permit is taken and the queue is full", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "full", maxConcurrent: 2, maxWaiting: 1 })
      const gate = yield* Deferred.make<void>()
      const holders = yield* Effect.forEach([1, 2, 3], () => Effect.fork(bulkhead.execute(holdUntil(gate))))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, waiting: 1 })
      const before = yield* counterValue("resilience_bulkhead_rejections_total", {
        service: "full",
        reason: "full"
      })
      const exit = yield* Effect.exit(bulkhead.execute(Effect.succeed("never runs")))
      expect(isRejected(exit, "full")).toBe(true)
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toEqual(
        Option.some(new Bulkhead.BulkheadRejectedError({ bulkhead: "full", reason: "full" }))
      )
      expect(
        yield* counterValue("resilience_bulkhead_rejections_total", { service: "full", reason: "full" })
      ).toBe(before + 1)
      expect(bulkhead.unsafeStats().rejected).toEqual({ full: 1, timeout: 0 })
      yield* Deferred.succeed(gate, void 0)
      yield* Effect.forEach(holders, Fiber.join)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("maxWaiting 0 means no queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "no-queue", maxConcurrent: 1, maxWaiting: 0 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      expect(isRejected(yield* Effect.exit(bulkhead.execute(Effect.void)), "full")).toBe(true)
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
      expect(yield* bulkhead.execute(Effect.succeed("ok"))).toBe("ok")
    }))

  it.effect("logs a rejection at debug level with annotations", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      const bulkhead = yield* Bulkhead.make({ name: "logged", maxConcurrent: 1, maxWaiting: 0 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      yield* bulkhead.execute(Effect.void).pipe(
        Effect.exit,
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect(logs).toHaveLength(1)
      expect(logs[0]).toMatchObject({
        level: "DEBUG",
        annotations: { bulkhead: "logged", reason: "full", active: 1, waiting: 0, maxConcurrent: 1, maxWaiting: 0 }
      })
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
    }))

  it.effect("rejects with reason \"timeout\" after exactly acquireTimeout, on the fiber's clock", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "timeout",
        maxConcurrent: 1,
        maxWaiting: 5,
        acquireTimeout: "100 millis"
      })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(bulkhead.execute(Effect.succeed("late")))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 1 })
      yield* TestClock.adjust("99 millis")
      expect(yield* Fiber.poll(waiter)).toEqual(Option.none())
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(waiter)
      expect(isRejected(exit, "timeout")).toBe(true)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 0, rejected: { full: 0, timeout: 1 } })
      // The holder was never timed out: the timeout applies to waiting only.
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.poll(holder)).toEqual(Option.none())
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("a waiter served before its acquire timeout is not timed out later", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "served", maxConcurrent: 1, acquireTimeout: "100 millis" })
      const holder = yield* Effect.fork(bulkhead.execute(Effect.sleep("50 millis")))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(bulkhead.execute(Effect.as(Effect.sleep("200 millis"), "done")))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(holder)
      yield* TestClock.adjust("150 millis")
      expect(yield* Fiber.poll(waiter)).toEqual(Option.none())
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(waiter)).toBe("done")
    }))

  it.effect("admits waiters in FIFO order, one hand-off per release", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "fifo", maxConcurrent: 1, maxWaiting: 10 })
      const order: Array<number> = []
      const fibers = yield* Effect.forEach(
        [0, 1, 2, 3, 4, 5],
        (i) =>
          Effect.fork(bulkhead.execute(Effect.zipRight(Effect.sync(() => order.push(i)), Effect.sleep("10 millis"))))
      )
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 5 })
      for (let step = 1; step <= 5; step++) {
        yield* TestClock.adjust("10 millis")
        expect(order).toHaveLength(step + 1)
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 5 - step })
      }
      yield* TestClock.adjust("10 millis")
      yield* Effect.forEach(fibers, Fiber.join)
      expect(order).toEqual([0, 1, 2, 3, 4, 5])
    }))

  it.effect("a new arrival does not overtake the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "no-barging", maxConcurrent: 1, maxWaiting: 5 })
      const order: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      const queued = yield* Effect.fork(bulkhead.execute(Effect.sync(() => order.push("queued"))))
      yield* Effect.yieldNow()
      // Release and arrive in the same synchronous step: the permit is already the waiter's.
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
      yield* bulkhead.execute(Effect.sync(() => order.push("late")))
      yield* Fiber.join(queued)
      expect(order).toEqual(["queued", "late"])
    }))

  it.effect("an interrupted waiter leaves the queue; the next waiter gets the permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "interrupt-waiter",
        maxConcurrent: 1,
        maxWaiting: 5,
        acquireTimeout: "1 second"
      })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      const first = yield* Effect.fork(bulkhead.execute(Effect.succeed("first")))
      const second = yield* Effect.fork(bulkhead.execute(Effect.succeed("second")))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 2 })
      yield* Fiber.interrupt(first)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 1 })
      yield* Deferred.succeed(gate, void 0)
      expect(yield* Fiber.join(second)).toBe("second")
      yield* Fiber.join(holder)
      // The interrupted waiter's acquire timer was stopped with it: no late timeout.
      const timeouts = yield* counterValue("resilience_bulkhead_rejections_total", {
        service: "interrupt-waiter",
        reason: "timeout"
      })
      yield* TestClock.adjust("2 seconds")
      expect(
        yield* counterValue("resilience_bulkhead_rejections_total", {
          service: "interrupt-waiter",
          reason: "timeout"
        })
      ).toBe(timeouts)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("an interrupted, failed or dying call returns its permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "running", maxConcurrent: 1, maxWaiting: 0 })
      const running = yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats().active).toBe(1)
      yield* Fiber.interrupt(running)
      expect(bulkhead.unsafeStats().active).toBe(0)

      expect(yield* Effect.flip(bulkhead.execute(Effect.fail("boom")))).toBe("boom")
      expect(bulkhead.unsafeStats().active).toBe(0)

      const died = yield* Effect.exit(bulkhead.execute(Effect.die("defect")))
      expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
      expect(bulkhead.unsafeStats().active).toBe(0)

      expect(yield* bulkhead.execute(Effect.succeed("free"))).toBe("free")
    }))

  it.effect("a call keeps its caller's interruptibility, inside and after, and returns its permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "flags", maxConcurrent: 1, maxWaiting: 0 })
      const inside = yield* bulkhead.execute(Effect.checkInterruptible(Effect.succeed))
      expect([inside, yield* Effect.checkInterruptible(Effect.succeed)]).toEqual([true, true])
      const masked = yield* Effect.uninterruptible(
        Effect.zip(
          bulkhead.execute(Effect.checkInterruptible(Effect.succeed)),
          Effect.checkInterruptible(Effect.succeed)
        )
      )
      expect(masked).toEqual([false, false])
      expect(bulkhead.unsafeStats().active).toBe(0)
    }))

  it.effect("an interrupt sent while the call is uninterruptible fires once it ends, after the release", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "deferred-interrupt", maxConcurrent: 1, maxWaiting: 0 })
      const gate = yield* Deferred.make<void>()
      const after = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.zipRight(bulkhead.execute(Effect.uninterruptible(holdUntil(gate))), Deferred.succeed(after, void 0))
      )
      yield* Effect.yieldNow()
      yield* Fiber.interruptFork(fiber)
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats().active).toBe(1)
      yield* Deferred.succeed(gate, void 0)
      expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
      expect(yield* Deferred.isDone(after)).toBe(false)
      expect(bulkhead.unsafeStats().active).toBe(0)
    }))

  it.effect("a call from an uninterruptible region returns its permit when interrupted in an interruptible part", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "uninterruptible-caller", maxConcurrent: 1, maxWaiting: 0 })
      const fiber = yield* Effect.fork(Effect.uninterruptible(bulkhead.execute(Effect.interruptible(Effect.never))))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats().active).toBe(1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
      expect(bulkhead.unsafeStats().active).toBe(0)
    }))

  it.effect("the acquire wait stays interruptible even inside an uninterruptible region's restore", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "restore", maxConcurrent: 1 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(Effect.uninterruptibleMask((restore) => restore(bulkhead.execute(Effect.void))))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiter)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 0 })
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
    }))

  describe("a permit handed to a waiter interrupted in the same tick is not lost", () => {
    it.effect("interrupt sent, then the permit handed over", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "same-tick-1", maxConcurrent: 1, maxWaiting: 2 })
        const gate = yield* Deferred.make<void>()
        const victim: { fiber?: Fiber.RuntimeFiber<unknown, unknown> } = {}
        const holder = yield* Effect.fork(bulkhead.execute(
          // The interrupt reaches the waiter just before this call's release hands it the permit.
          Effect.zipRight(holdUntil(gate), Effect.sync(() => victim.fiber!.unsafeInterruptAsFork(FiberId.none)))
        ))
        yield* Effect.yieldNow()
        victim.fiber = yield* Effect.fork(bulkhead.execute(Effect.succeed("victim")))
        const next = yield* Effect.fork(bulkhead.execute(Effect.succeed("next")))
        yield* Effect.yieldNow()
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 2 })
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.join(holder)
        expect(Exit.isInterrupted(yield* Fiber.await(victim.fiber))).toBe(true)
        expect(yield* Fiber.join(next)).toBe("next")
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
      }))

    it.effect("permit handed over, then the interrupt sent", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "same-tick-2", maxConcurrent: 1, maxWaiting: 2 })
        const gate = yield* Deferred.make<void>()
        const victim: { fiber?: Fiber.RuntimeFiber<unknown, unknown> } = {}
        const holder = yield* Effect.fork(
          bulkhead.execute(holdUntil(gate)).pipe(
            // Runs right after the release, before the waiter's fiber resumes.
            Effect.tap(() => Effect.sync(() => victim.fiber!.unsafeInterruptAsFork(FiberId.none)))
          )
        )
        yield* Effect.yieldNow()
        victim.fiber = yield* Effect.fork(bulkhead.execute(Effect.never))
        const next = yield* Effect.fork(bulkhead.execute(Effect.succeed("next")))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.join(holder)
        expect(Exit.isInterrupted(yield* Fiber.await(victim.fiber))).toBe(true)
        expect(yield* Fiber.join(next)).toBe("next")
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
      }))
  })

  describe("invalid options fail with InvalidOptionsError naming the option", () => {
    const cases: ReadonlyArray<[string, Partial<Bulkhead.Options>]> = [
      ["maxConcurrent", { maxConcurrent: 0 }],
      ["maxConcurrent", { maxConcurrent: -1 }],
      ["maxConcurrent", { maxConcurrent: Number.NaN }],
      ["maxConcurrent", { maxConcurrent: 1.5 }],
      ["maxConcurrent", { maxConcurrent: Number.POSITIVE_INFINITY }],
      ["maxWaiting", { maxWaiting: -1 }],
      ["maxWaiting", { maxWaiting: Number.NaN }],
      ["maxWaiting", { maxWaiting: 2.5 }],
      ["acquireTimeout", { acquireTimeout: 0 }],
      ["acquireTimeout", { acquireTimeout: -5 }],
      ["acquireTimeout", { acquireTimeout: Number.NaN }],
      ["acquireTimeout", { acquireTimeout: "soon" as Duration.DurationInput }],
      ["name", { name: "" }]
    ]
    it.effect.each(cases)("%s = %o", ([option, overrides]) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Bulkhead.make({ name: "invalid", ...overrides }))
        expect(error).toBeInstanceOf(Bulkhead.InvalidOptionsError)
        expect(error).toMatchObject({ policy: "Bulkhead", option })
      }))
  })

  // The property drives time in 1 ms ticks. Work "takes" its duration by awaiting the gate of the tick it
  // ends on (one Deferred per tick, opened by the driver), and interruptions are sent by the driver: only
  // the bulkhead's acquire timeouts sleep on the TestClock (each TestClock step costs real timer yields).
  const call = fc.record({
    arrive: fc.integer({ min: 0, max: 40 }),
    duration: fc.integer({ min: 1, max: 12 }),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 20 }), { freq: 6 }),
    outcome: fc.constantFrom("succeed", "succeed", "succeed", "fail", "die")
  })

  it.effect.prop(
    "2,000 fibers with random durations, interruptions and timeouts: bounds, FIFO, no leaked permit",
    {
      // Small pools (deep overload, long queues) and large ones (a mix of fast path, queueing and rejection).
      maxConcurrent: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 50, max: 300 })),
      maxWaiting: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 20, max: 300 })),
      acquireTimeout: fc.option(fc.integer({ min: 1, max: 10 }), { freq: 3 }),
      calls: fc.array(call, { minLength: 2000, maxLength: 2000 })
    },
    ({ acquireTimeout, calls, maxConcurrent, maxWaiting }) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({
          name: "property",
          maxConcurrent,
          maxWaiting,
          acquireTimeout: acquireTimeout ?? undefined
        })
        const violations: Array<string> = []
        let running = 0
        const check = (where: string) => {
          const s = bulkhead.unsafeStats()
          if (s.active > maxConcurrent) violations.push(`${where}: active ${s.active}`)
          if (s.waiting > maxWaiting) violations.push(`${where}: waiting ${s.waiting}`)
          if (running > s.active) violations.push(`${where}: running ${running} > active ${s.active}`)
          if (s.waiting > 0 && s.active < maxConcurrent) violations.push(`${where}: idle permit while waiting`)
        }

        let now = 0
        const gates = new Map<number, Deferred.Deferred<void>>()
        const gateAt = (tick: number) => {
          let gate = gates.get(tick)
          if (gate === undefined) {
            gate = Deferred.unsafeMake<void>(FiberId.none)
            gates.set(tick, gate)
          }
          return gate
        }

        // What each call meets on arrival, read synchronously just before it calls the bulkhead.
        const expected = new Map<number, "run" | "queue" | "full">()
        const arrivalIndex = new Map<number, number>()
        const admitted: Array<number> = []
        const arrivedAt = new Map<number, number>()
        const endedAt = new Map<number, number>()

        const run = (id: number, spec: typeof calls[number]) =>
          Effect.clockWith((clock) =>
            Effect.suspend(() => {
              const s = bulkhead.unsafeStats()
              expected.set(
                id,
                s.active < s.maxConcurrent && s.waiting === 0 ? "run" : s.waiting < s.maxWaiting ? "queue" : "full"
              )
              arrivalIndex.set(id, arrivalIndex.size)
              arrivedAt.set(id, clock.unsafeCurrentTimeMillis())
              return bulkhead.execute(
                Effect.suspend(() => {
                  admitted.push(id)
                  running++
                  check(`call ${id}`)
                  const end = spec.outcome === "fail"
                    ? Effect.fail("boom" as const)
                    : spec.outcome === "die"
                    ? Effect.die("defect")
                    : Effect.succeed(id)
                  return Deferred.await(gateAt(now + spec.duration)).pipe(
                    Effect.zipRight(end),
                    Effect.ensuring(Effect.sync(() => running--))
                  )
                })
              )
            }).pipe(Effect.ensuring(Effect.sync(() => endedAt.set(id, clock.unsafeCurrentTimeMillis()))))
          )

        const byTick = new Map<number, Array<number>>()
        calls.forEach((c, id) => byTick.set(c.arrive, [...(byTick.get(c.arrive) ?? []), id]))
        const interrupts = new Map<number, Array<Fiber.RuntimeFiber<unknown, unknown>>>()
        const fibers = new Map<number, Fiber.RuntimeFiber<unknown, unknown>>()
        const allDone = () => fibers.size === calls.length && [...fibers.values()].every((f) => f.unsafePoll() !== null)
        // Long enough for every call to end: the last arrival waits at most its timeout, or behind a full queue.
        const lastTick = 40 + (acquireTimeout ?? 12 * Math.ceil((maxWaiting + 1) / maxConcurrent)) + 12 + 5
        for (; now <= lastTick && !allDone(); now++) {
          for (const id of byTick.get(now) ?? []) {
            const spec = calls[id]!
            const fiber = yield* Effect.fork(run(id, spec))
            fibers.set(id, fiber)
            if (spec.interruptAfter !== null) {
              const at = now + spec.interruptAfter
              interrupts.set(at, [...(interrupts.get(at) ?? []), fiber])
            }
          }
          yield* Effect.yieldNow()
          check(`t=${now} arrivals`)
          yield* Deferred.succeed(gateAt(now), void 0)
          yield* Effect.yieldNow()
          check(`t=${now} releases`)
          yield* Fiber.interruptAll(interrupts.get(now) ?? [])
          check(`t=${now} interruptions`)
          // Without an acquire timeout the bulkhead never reads the clock: skip the (costly) TestClock step.
          if (acquireTimeout !== null) yield* TestClock.adjust(1)
          check(`t=${now} timeouts`)
        }
        expect(allDone()).toBe(true)
        const exits = yield* Effect.forEach(calls, (_, id) => Fiber.await(fibers.get(id)!))

        expect(violations).toEqual([])
        // Every permit came back, and a fresh call gets one at once (runSync throws on suspension).
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
        expect(Effect.runSync(bulkhead.execute(Effect.succeed("fresh")))).toBe("fresh")

        // FIFO: among calls that queued and were admitted, admission follows arrival.
        const queuedAdmissions = admitted.filter((id) => expected.get(id) === "queue")
        const arrivalOrder = queuedAdmissions.map((id) => arrivalIndex.get(id)!)
        expect(arrivalOrder).toEqual([...arrivalOrder].sort((a, b) => a - b))

        const admittedSet = new Set(admitted)
        let rejectedFull = 0
        exits.forEach((exit, id) => {
          const spec = calls[id]!
          const seen = expected.get(id)
          if (seen === undefined) {
            // Interrupted in the tick it arrived, before it reached the bulkhead.
            expect(Exit.isInterrupted(exit)).toBe(true)
            return
          }
          // "full" exactly when the queue was full on arrival.
          expect(isRejected(exit, "full")).toBe(seen === "full")
          if (seen === "full") rejectedFull++
          if (isRejected(exit, "timeout")) {
            expect(seen).toBe("queue")
            expect(endedAt.get(id)! - arrivedAt.get(id)!).toBe(acquireTimeout)
          }
          if (seen === "run") expect(admittedSet.has(id)).toBe(true)
          if (spec.interruptAfter === null && seen !== "full" && !isRejected(exit, "timeout")) {
            expect(admittedSet.has(id)).toBe(true)
            expect(exit).toEqual(
              spec.outcome === "succeed"
                ? Exit.succeed(id)
                : spec.outcome === "fail"
                ? Exit.fail("boom")
                : Exit.die("defect")
            )
          }
        })
        expect(rejectedFull + admittedSet.size).toBeLessThanOrEqual(calls.length)
      }),
    // No shrinking: 2,000-call cases shrink slowly, and the failed case is reported as is.
    { fastCheck: { numRuns: 4, endOnFailure: true } }
  )
})

describe("Bulkhead as an Effect.Semaphore", () => {
  // Code written for any Effect Semaphore: it knows nothing of bulkheads, and
  // reports what it saw. Run against a bulkhead and `Effect.makeSemaphore`, it
  // must see the same things.
  const useSemaphore = (semaphore: Effect.Semaphore) =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const hold = (label: string, permits: number) =>
        Effect.fork(
          semaphore.withPermits(permits)(Effect.zipRight(Effect.sync(() => log.push(label)), Deferred.await(gate)))
        )
      // two holders of 2 permits fill a 4-permit semaphore
      const a = yield* hold("a", 2)
      const b = yield* hold("b", 2)
      yield* Effect.yieldNow()
      const whileFull = yield* semaphore.withPermitsIfAvailable(1)(Effect.sync(() => log.push("never")))
      const c = yield* Effect.fork(semaphore.withPermits(1)(Effect.sync(() => log.push("c"))))
      yield* Effect.yieldNow()
      log.push("c waits")
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      yield* Fiber.join(c)
      // take / release by hand
      const took = yield* semaphore.take(3)
      const oneLeft = yield* semaphore.withPermitsIfAvailable(1)(Effect.succeed("one left"))
      const twoLeft = yield* semaphore.withPermitsIfAvailable(2)(Effect.succeed("never"))
      const afterRelease = yield* semaphore.release(3)
      // failures, defects and interruptions give their permits back
      const failed = yield* Effect.exit(semaphore.withPermits(4)(Effect.fail("boom")))
      const died = yield* Effect.exit(semaphore.withPermits(4)(Effect.die("defect")))
      const never = yield* Effect.fork(semaphore.withPermits(4)(Effect.never))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(semaphore.withPermits(1)(Effect.void))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiter)
      yield* Fiber.interrupt(never)
      const allFree = yield* semaphore.withPermitsIfAvailable(4)(Effect.succeed("all four"))
      // resize: down to 1 admits one at a time, up to 3 admits three
      yield* semaphore.resize(1)
      const afterShrink = yield* semaphore.withPermitsIfAvailable(2)(Effect.succeed("never"))
      yield* semaphore.resize(3)
      const afterGrow = yield* semaphore.withPermitsIfAvailable(3)(Effect.succeed("three"))
      yield* semaphore.resize(4)
      return { log, whileFull, took, oneLeft, twoLeft, afterRelease, failed, died, allFree, afterShrink, afterGrow }
    })

  it.effect("code written for Effect.Semaphore sees the same results with a bulkhead and Effect.makeSemaphore", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "as-semaphore", maxConcurrent: 4 })
      const withBulkhead = yield* useSemaphore(bulkhead)
      const withEffect = yield* useSemaphore(yield* Effect.makeSemaphore(4))
      expect(withBulkhead).toEqual(withEffect)
      expect(withBulkhead).toEqual({
        log: ["a", "b", "c waits", "c"],
        whileFull: Option.none(),
        took: 3,
        oneLeft: Option.some("one left"),
        twoLeft: Option.none(),
        afterRelease: 4,
        failed: Exit.fail("boom"),
        died: Exit.die("defect"),
        allFree: Option.some("all four"),
        afterShrink: Option.none(),
        afterGrow: Option.some("three")
      })
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: 4, waiting: 0, maxConcurrent: 4 })
    }))

  it.effect("Semaphore users and execute share one pool of permits", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "shared", maxConcurrent: 3, maxWaiting: 0 })
      yield* bulkhead.take(2)
      expect(yield* bulkhead.execute(Effect.succeed("third permit"))).toBe("third permit")
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 3, available: 0 })
      expect(isRejected(yield* Effect.exit(bulkhead.execute(Effect.void)), "full")).toBe(true)
      expect(yield* bulkhead.withPermitsIfAvailable(1)(Effect.void)).toEqual(Option.none())
      yield* bulkhead.release(2)
      expect(yield* bulkhead.withPermitsIfAvailable(2)(Effect.succeed("two"))).toEqual(Option.some("two"))
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: 3 })
    }))

  it.effect("strict FIFO across permit counts: a waiter for fewer permits does not overtake", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "fifo-n", maxConcurrent: 3 })
      const order: Array<string> = []
      yield* bulkhead.take(2)
      const big = yield* Effect.fork(bulkhead.withPermits(3)(Effect.sync(() => order.push("three"))))
      yield* Effect.yieldNow()
      // one permit is free, but the waiter ahead needs three
      const small = yield* Effect.fork(bulkhead.withPermits(1)(Effect.sync(() => order.push("one"))))
      yield* Effect.yieldNow()
      expect(order).toEqual([])
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, available: 1, waiting: 2 })
      expect(yield* bulkhead.withPermitsIfAvailable(1)(Effect.void)).toEqual(Option.none())
      yield* bulkhead.release(2)
      yield* Effect.forEach([big, small], Fiber.join)
      expect(order).toEqual(["three", "one"])
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("an interrupted waiter for many permits lets the ones behind it through", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "unblock", maxConcurrent: 2 })
      yield* bulkhead.take(1)
      const big = yield* Effect.fork(bulkhead.withPermits(2)(Effect.void))
      yield* Effect.yieldNow()
      const small = yield* Effect.fork(bulkhead.withPermits(1)(Effect.succeed("small")))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 2 })
      yield* Fiber.interrupt(big)
      expect(yield* Fiber.join(small)).toBe("small")
      yield* bulkhead.release(1)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("resize up admits waiters at once; resize down admits none until enough permits return", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "resize", maxConcurrent: 1, maxWaiting: 5 })
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const call = (i: number) =>
        Effect.fork(bulkhead.execute(Effect.zipRight(Effect.sync(() => started.push(i)), holdUntil(gate))))
      const fibers = yield* Effect.forEach([0, 1, 2], call)
      yield* Effect.yieldNow()
      expect(started).toEqual([0])
      yield* bulkhead.resize(3)
      yield* Effect.yieldNow()
      expect(started).toEqual([0, 1, 2])
      expect(bulkhead.maxConcurrent).toBe(3)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 3, available: 0, maxConcurrent: 3 })

      // down to 1 while 3 run: nobody else gets in until only 0 are left running
      yield* bulkhead.resize(1)
      const late = yield* call(3)
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 3, available: 0, waiting: 1, maxConcurrent: 1 })
      yield* Deferred.succeed(gate, void 0)
      yield* Effect.forEach([...fibers, late], Fiber.join)
      expect(started).toEqual([0, 1, 2, 3])
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: 1, waiting: 0 })

      // resize(0) pauses: calls queue (up to maxWaiting), and run once it grows again
      yield* bulkhead.resize(0)
      const paused = yield* Effect.fork(bulkhead.execute(Effect.succeed("resumed")))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, waiting: 1 })
      yield* bulkhead.resize(1)
      expect(yield* Fiber.join(paused)).toBe("resumed")
    }))

  it.effect("withPermitsIfAvailable runs only when the permits are free and nobody waits", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "if-available", maxConcurrent: 2 })
      const inside = yield* bulkhead.withPermitsIfAvailable(2)(bulkhead.stats)
      expect(Option.map(inside, (s) => s.active)).toEqual(Option.some(2))
      expect(bulkhead.unsafeStats().active).toBe(0)
      expect(yield* Effect.exit(bulkhead.withPermitsIfAvailable(1)(Effect.fail("boom")))).toEqual(Exit.fail("boom"))
      expect(bulkhead.unsafeStats().active).toBe(0)
      expect(yield* bulkhead.withPermitsIfAvailable(3)(Effect.succeed("too many"))).toEqual(Option.none())
      // a permit is free, but a waiter for two is queued: no overtaking
      yield* bulkhead.take(1)
      const waiter = yield* Effect.fork(bulkhead.withPermits(2)(Effect.void))
      yield* Effect.yieldNow()
      expect(yield* bulkhead.withPermitsIfAvailable(1)(Effect.succeed("barged"))).toEqual(Option.none())
      yield* bulkhead.release(1)
      yield* Fiber.join(waiter)
      expect(yield* bulkhead.withPermitsIfAvailable(1)(Effect.succeed("free"))).toEqual(Option.some("free"))
    }))

  it.effect("releaseAll frees every permit held, and the holders' own releases later do not count twice", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "release-all", maxConcurrent: 2, maxWaiting: 5 })
      const oldGate = yield* Deferred.make<void>()
      const newGate = yield* Deferred.make<void>()
      const old = yield* Effect.forEach([1, 2], () => Effect.fork(bulkhead.execute(holdUntil(oldGate))))
      const queued = yield* Effect.fork(bulkhead.execute(holdUntil(newGate)))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, waiting: 1 })
      // Frees both permits: the queued call gets one, one is free.
      expect(yield* bulkhead.releaseAll).toBe(1)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, available: 1, waiting: 0 })
      const fresh = yield* Effect.fork(bulkhead.execute(holdUntil(newGate)))
      yield* Effect.yieldNow()
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, available: 0 })
      // The old holders end: their releases are absorbed, the two new calls still count.
      yield* Deferred.succeed(oldGate, void 0)
      yield* Effect.forEach(old, Fiber.join)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 2, available: 0 })
      expect(yield* bulkhead.withPermitsIfAvailable(1)(Effect.void)).toEqual(Option.none())
      yield* Deferred.succeed(newGate, void 0)
      yield* Effect.forEach([queued, fresh], Fiber.join)
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: 2 })
      // Releasing what was never taken cannot raise the limit.
      expect(yield* bulkhead.release(5)).toBe(2)
      expect(yield* bulkhead.withPermitsIfAvailable(3)(Effect.void)).toEqual(Option.none())
    }))

  it.effect("Semaphore waiters count toward maxWaiting for execute, and wait with no acquire timeout", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "mixed-queue",
        maxConcurrent: 1,
        maxWaiting: 2,
        acquireTimeout: "100 millis"
      })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(holdUntil(gate)))
      yield* Effect.yieldNow()
      const semaphoreWaiter = yield* Effect.fork(bulkhead.withPermits(1)(Effect.succeed("patient")))
      yield* Effect.yieldNow()
      // a timed call queued behind an untimed one still times out on time
      const timed = yield* Effect.fork(bulkhead.execute(Effect.succeed("timed")))
      yield* Effect.yieldNow()
      expect(isRejected(yield* Effect.exit(bulkhead.execute(Effect.void)), "full")).toBe(true)
      yield* TestClock.adjust("100 millis")
      expect(isRejected(yield* Fiber.await(timed), "timeout")).toBe(true)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.poll(semaphoreWaiter)).toEqual(Option.none())
      expect(bulkhead.unsafeStats()).toMatchObject({ waiting: 1, rejected: { full: 1, timeout: 1 } })
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(semaphoreWaiter)).toBe("patient")
    }))

  describe("a permit count that is not an integer >= 0 is a defect carrying InvalidOptionsError", () => {
    const isInvalid = (exit: Exit.Exit<unknown, unknown>, option: string) =>
      Exit.isFailure(exit) &&
      Cause.isDie(exit.cause) &&
      Option.exists(
        Cause.dieOption(exit.cause),
        (d) => d instanceof Bulkhead.InvalidOptionsError && d.policy === "Bulkhead" && d.option === option
      )
    it.effect.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("%s", (n) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "bad-count", maxConcurrent: 2 })
        expect(isInvalid(yield* Effect.exit(bulkhead.withPermits(n)(Effect.void)), "permits")).toBe(true)
        expect(isInvalid(yield* Effect.exit(bulkhead.withPermitsIfAvailable(n)(Effect.void)), "permits")).toBe(true)
        expect(isInvalid(yield* Effect.exit(bulkhead.take(n)), "permits")).toBe(true)
        expect(isInvalid(yield* Effect.exit(bulkhead.release(n)), "permits")).toBe(true)
        expect(isInvalid(yield* Effect.exit(bulkhead.resize(n)), "resize")).toBe(true)
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: 2, maxConcurrent: 2 })
      }))
  })

  // Random Semaphore traffic with random interruption, driven in ticks as the
  // property above: every permit taken comes back.
  const semaphoreCall = fc.record({
    arrive: fc.integer({ min: 0, max: 30 }),
    duration: fc.integer({ min: 1, max: 8 }),
    permits: fc.integer({ min: 1, max: 2 }),
    kind: fc.constantFrom("withPermits", "take/release", "withPermitsIfAvailable", "execute"),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 12 }), { freq: 3 })
  })

  it.effect.prop(
    "1,000 fibers on withPermits, take/release, withPermitsIfAvailable, execute and resize, randomly interrupted: the permits return to the limit",
    {
      limit: fc.integer({ min: 2, max: 6 }),
      calls: fc.array(semaphoreCall, { minLength: 1000, maxLength: 1000 }),
      resizes: fc.array(fc.record({ at: fc.integer({ min: 0, max: 30 }), to: fc.integer({ min: 2, max: 8 }) }), {
        maxLength: 6
      })
    },
    ({ calls, limit, resizes }) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "semaphore-property", maxConcurrent: limit, maxWaiting: 50 })
        const semaphore: Effect.Semaphore = bulkhead
        let running = 0 // permits held by calls that are running their work
        let mostEverAllowed = limit
        const violations: Array<string> = []
        const check = (where: string) => {
          const s = bulkhead.unsafeStats()
          if (running > s.active) violations.push(`${where}: ${running} permits in use, ${s.active} taken`)
          if (s.active > mostEverAllowed) violations.push(`${where}: ${s.active} taken, limit ${mostEverAllowed}`)
        }
        let now = 0
        const gates = new Map<number, Deferred.Deferred<void>>()
        const gateAt = (tick: number) => {
          let gate = gates.get(tick)
          if (gate === undefined) {
            gate = Deferred.unsafeMake<void>(FiberId.none)
            gates.set(tick, gate)
          }
          return gate
        }
        const work = (spec: typeof calls[number]) =>
          Effect.suspend(() => {
            running += spec.permits
            check("work")
            return Deferred.await(gateAt(now + spec.duration)).pipe(
              Effect.ensuring(Effect.sync(() => running -= spec.permits))
            )
          })
        const run = (spec: typeof calls[number]): Effect.Effect<unknown, unknown> =>
          spec.kind === "withPermits"
            ? semaphore.withPermits(spec.permits)(work(spec))
            : spec.kind === "withPermitsIfAvailable"
            ? semaphore.withPermitsIfAvailable(spec.permits)(work(spec))
            : spec.kind === "execute"
            ? bulkhead.execute(work({ ...spec, permits: 1 }))
            // the pattern for taking by hand: the take and the release's installation under one mask
            : Effect.uninterruptibleMask((restore) =>
              Effect.flatMap(
                restore(semaphore.take(spec.permits)),
                (n) => Effect.ensuring(restore(work(spec)), semaphore.release(n))
              )
            )
        const byTick = new Map<number, Array<number>>()
        calls.forEach((c, id) => byTick.set(c.arrive, [...(byTick.get(c.arrive) ?? []), id]))
        const interrupts = new Map<number, Array<Fiber.RuntimeFiber<unknown, unknown>>>()
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        const allDone = () => fibers.length === calls.length && fibers.every((f) => f.unsafePoll() !== null)
        // a resize below 2 never happens, and no call asks for more than 2: every waiter is served eventually
        for (; now <= 2000 && !allDone(); now++) {
          for (const r of resizes) {
            if (r.at !== now) continue
            mostEverAllowed = Math.max(mostEverAllowed, r.to)
            yield* semaphore.resize(r.to)
          }
          for (const id of byTick.get(now) ?? []) {
            const spec = calls[id]!
            const fiber = yield* Effect.fork(run(spec))
            fibers.push(fiber)
            if (spec.interruptAfter !== null) {
              const at = now + spec.interruptAfter
              interrupts.set(at, [...(interrupts.get(at) ?? []), fiber])
            }
          }
          yield* Effect.yieldNow()
          check(`t=${now} arrivals`)
          yield* Deferred.succeed(gateAt(now), void 0)
          yield* Effect.yieldNow()
          check(`t=${now} releases`)
          yield* Fiber.interruptAll(interrupts.get(now) ?? [])
          check(`t=${now} interruptions`)
        }
        expect(allDone()).toBe(true)
        expect(violations).toEqual([])
        yield* semaphore.resize(limit)
        expect(bulkhead.unsafeStats()).toMatchObject({ active: 0, available: limit, waiting: 0 })
        // every permit is free at once: runSync throws on suspension
        expect(Effect.runSync(semaphore.withPermitsIfAvailable(limit)(Effect.succeed("all")))).toEqual(
          Option.some("all")
        )
      }),
    { fastCheck: { numRuns: 6, endOnFailure: true } }
  )
})
