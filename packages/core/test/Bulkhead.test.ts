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
      const found = pair.metricKey.tags.every((t) => tags[t.key] === t.value) &&
        Object.keys(tags).length === pair.metricKey.tags.length
      if (found) return Number((pair.metricState as unknown as { count: number | bigint }).count)
    }
    return 0
  })

describe("Bulkhead", () => {
  it.effect("runs a call at once while a permit is free, and returns the permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "hot", maxConcurrent: 2 })
      const seen = yield* bulkhead.execute(bulkhead.stats)
      expect(seen).toEqual({ name: "hot", active: 1, waiting: 0, maxConcurrent: 2, maxWaiting: 2 })
      expect(yield* bulkhead.stats).toEqual({ ...seen, active: 0 })
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
      const before = yield* counterValue("effect_resilience_bulkhead_rejections_total", {
        bulkhead: "full",
        reason: "full"
      })
      const exit = yield* Effect.exit(bulkhead.execute(Effect.succeed("never runs")))
      expect(isRejected(exit, "full")).toBe(true)
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toEqual(
        Option.some(new Bulkhead.BulkheadRejectedError({ bulkhead: "full", reason: "full" }))
      )
      expect(
        yield* counterValue("effect_resilience_bulkhead_rejections_total", { bulkhead: "full", reason: "full" })
      ).toBe(before + 1)
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
      expect(bulkhead.unsafeStats()).toMatchObject({ active: 1, waiting: 0 })
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
      const timeouts = yield* counterValue("effect_resilience_bulkhead_rejections_total", {
        bulkhead: "interrupt-waiter",
        reason: "timeout"
      })
      yield* TestClock.adjust("2 seconds")
      expect(
        yield* counterValue("effect_resilience_bulkhead_rejections_total", {
          bulkhead: "interrupt-waiter",
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
