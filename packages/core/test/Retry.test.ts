import { ResilienceError, Retry, RetryBudget } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Data,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  HashMap,
  Logger,
  LogLevel,
  Metric,
  Random,
  Schedule,
  TestClock
} from "effect"

class ConnectionError extends Data.TaggedError("ConnectionError")<{ readonly attempt?: number }> {}
class ValidationError extends Data.TaggedError("ValidationError")<{}> {}
class ServerBusy extends Data.TaggedError("ServerBusy")<{ readonly retryAfter: Duration.Duration }> {}

interface Line {
  readonly message: unknown
  readonly level: string
  readonly at: number
  readonly annotations: Record<string, unknown>
}

/**
 * Runs `self` with a logger that records every line (message, level, annotations, virtual time), Debug and
 * above unless `minimum` says otherwise.
 */
const captureLogs = <A, E, R>(
  self: (lines: Array<Line>) => Effect.Effect<A, E, R>,
  minimum: LogLevel.LogLevel = LogLevel.Debug
) => {
  const lines: Array<Line> = []
  const logger = Logger.make(({ annotations, date, logLevel, message }) => {
    lines.push({
      message: Array.isArray(message) && message.length === 1 ? message[0] : message,
      level: logLevel.label,
      at: date.getTime(),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return self(lines).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Logger.withMinimumLogLevel(minimum)
  )
}

/** An effect failing with `error(n)` on attempt n (1-based) until `succeedOn`, recording when each attempt ran. */
const flaky = <E>(error: (attempt: number) => E, succeedOn = Infinity) => {
  const times: Array<number> = []
  const effect = Effect.clockWith((clock) =>
    Effect.suspend(() => {
      times.push(clock.unsafeCurrentTimeMillis())
      return times.length >= succeedOn ? Effect.succeed(times.length) : Effect.fail(error(times.length))
    })
  )
  return { effect, times }
}

const jitters = ["full", "equal", "decorrelated", "none"] as const

describe("Retry", () => {
  describe("delays", () => {
    it.prop(
      "delayFor stays within its jitter bounds and under the cap",
      {
        base: fc.integer({ min: 1, max: 10_000 }),
        extra: fc.integer({ min: 0, max: 100_000 }),
        factor: fc.double({ min: 1, max: 10, noNaN: true }),
        jitter: fc.constantFrom(...jitters),
        attempt: fc.integer({ min: 1, max: 60 }),
        previousExtra: fc.integer({ min: 0, max: 200_000 }),
        u: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
      },
      ({ attempt, base, extra, factor, jitter, previousExtra, u }) => {
        const max = base + extra
        const previous = Math.min(max, base + previousExtra)
        const d = Retry.delayFor({ baseDelayMillis: base, maxDelayMillis: max, factor, jitter }, attempt, previous, u)
        const exp = Math.min(max, base * Math.pow(factor, attempt - 1))
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(max)
        switch (jitter) {
          case "none":
            expect(d).toBe(exp)
            break
          case "full":
            expect(d).toBeLessThanOrEqual(exp)
            break
          case "equal":
            expect(d).toBeGreaterThanOrEqual(exp / 2)
            expect(d).toBeLessThanOrEqual(exp)
            break
          case "decorrelated":
            expect(d).toBeGreaterThanOrEqual(base)
            expect(d).toBeLessThanOrEqual(Math.min(max, Math.max(base, previous * 3)))
            break
        }
      }
    )

    it.effect("the real delays under TestClock are base × factor^(n-1), capped", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.exponential({
          maxRetries: 5,
          baseDelay: "100 millis",
          maxDelay: "1 second",
          factor: 3,
          jitter: "none"
        })
        const { effect, times } = flaky(() => new ConnectionError({}))
        const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBeInstanceOf(ConnectionError)
        // delays 100, 300, 900, 1000 (capped), 1000
        expect(times).toEqual([0, 100, 400, 1300, 2300, 3300])
      }))

    it.effect.prop(
      "with jitter, each attempt runs exactly the logged delay after the previous one, within bounds",
      {
        seed: fc.integer(),
        jitter: fc.constantFrom(...jitters),
        maxRetries: fc.integer({ min: 1, max: 6 })
      },
      ({ jitter, maxRetries, seed }) =>
        captureLogs((lines) =>
          Effect.gen(function*() {
            const retry = yield* Retry.exponential({
              maxRetries,
              baseDelay: "200 millis",
              maxDelay: "2 seconds",
              jitter,
              service: "prop"
            })
            const { effect, times } = flaky(() => new ConnectionError({}))
            const fiber = yield* Effect.fork(Effect.exit(retry.execute(effect)))
            yield* TestClock.adjust("1 minute")
            yield* Fiber.join(fiber)
            expect(times.length).toBe(maxRetries + 1)
            const delays = lines.filter((l) => l.message === "Retry: retrying after failure").map((l) =>
              l.annotations.delayMillis as number
            )
            expect(delays.length).toBe(maxRetries)
            let previous = 200
            delays.forEach((delay, i) => {
              expect(Number.isInteger(delay)).toBe(true) // whole milliseconds, rounded up
              expect(times[i + 1] - times[i]).toBe(delay)
              const exp = Math.min(2000, 200 * Math.pow(2, i))
              expect(delay).toBeLessThanOrEqual(jitter === "decorrelated" ? Math.min(2000, previous * 3) : exp)
              expect(delay).toBeGreaterThanOrEqual(jitter === "equal" ? exp / 2 : jitter === "full" ? 0 : 200)
              previous = delay
            })
          })
        ).pipe(Effect.withRandom(Random.make(seed))),
      { fastCheck: { numRuns: 20 } }
    )

    it.effect("Retry.constant waits the same delay every time", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.constant("250 millis", { maxRetries: 2 })
        const { effect, times } = flaky(() => new ConnectionError({}))
        const fiber = yield* Effect.fork(Effect.exit(retry.execute(effect)))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(fiber)
        expect(times).toEqual([0, 250, 500])
      }))

    it.effect("Retry.fromSchedule follows the schedule's recurrence and delays", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.fromSchedule(
          Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
        )
        const { effect, times } = flaky(() => new ConnectionError({}))
        const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toBeInstanceOf(ConnectionError)
        expect(times).toEqual([0, 10, 30, 70])
        // retryOn applies to schedules too
        const picky = yield* Retry.fromSchedule(Schedule.spaced("1 millis"), { retryOn: ["ConnectionError"] })
        const validation = flaky(() => new ValidationError())
        yield* Effect.flip(picky.execute(validation.effect))
        expect(validation.times.length).toBe(1)
      }))
  })

  describe("as a Schedule", () => {
    /** When each attempt of `flaky` ran through `run`, from the first, once the clock has moved far enough for every retry. */
    const timesOf = <E>(run: (self: Effect.Effect<number, E>) => Effect.Effect<number, E>, error: (n: number) => E) =>
      Effect.gen(function*() {
        const { effect, times } = flaky(error)
        const fiber = yield* Effect.fork(Effect.exit(run(effect)))
        yield* TestClock.adjust("1 hour")
        yield* Fiber.join(fiber)
        return times.map((at) => at - times[0])
      })

    it.effect.prop(
      "Effect.retry with Retry.schedule waits the same delays as the policy: delayFor of the same draws",
      {
        seed: fc.integer(),
        jitter: fc.constantFrom(...jitters),
        maxRetries: fc.integer({ min: 0, max: 8 }),
        base: fc.integer({ min: 1, max: 2_000 }),
        extra: fc.integer({ min: 0, max: 20_000 }),
        factor: fc.double({ min: 1, max: 4, noNaN: true })
      },
      ({ base, extra, factor, jitter, maxRetries, seed }) =>
        Effect.gen(function*() {
          const options: Retry.Options = {
            maxRetries,
            baseDelay: Duration.millis(base),
            maxDelay: Duration.millis(base + extra),
            factor,
            jitter
          }
          const schedule = yield* Retry.schedule(options)
          const retry = yield* Retry.exponential(options)
          const error = () => new ConnectionError({})
          // a fresh generator with the same seed for each run: the same draws
          const viaSchedule = yield* timesOf((self) => Effect.retry(self, schedule), error).pipe(
            Effect.withRandom(Random.make(seed))
          )
          const viaPolicy = yield* timesOf(retry.execute, error).pipe(Effect.withRandom(Random.make(seed)))
          const viaField = yield* timesOf((self) => Effect.retry(self, retry.schedule), error).pipe(
            Effect.withRandom(Random.make(seed))
          )
          expect(viaSchedule).toHaveLength(maxRetries + 1)
          expect(viaPolicy).toEqual(viaSchedule)
          expect(viaField).toEqual(viaSchedule)
          // and the delays are the documented formula over those draws
          const draws = Random.make(seed)
          const params = { baseDelayMillis: base, maxDelayMillis: base + extra, factor, jitter }
          let previous = base
          for (let n = 1; n <= maxRetries; n++) {
            const u = jitter === "none" ? 0 : yield* draws.next
            const delay = Math.ceil(Retry.delayFor(params, n, previous, u))
            expect(viaSchedule[n] - viaSchedule[n - 1]).toBe(delay)
            previous = delay
          }
        }),
      { fastCheck: { numRuns: 40 } }
    )

    it.effect("Retry.constant's and Retry.fromSchedule's schedules wait what their policies wait", () =>
      Effect.gen(function*() {
        const constant = yield* Retry.constant("250 millis", { maxRetries: 2 })
        const error = () => new ConnectionError({})
        expect(yield* timesOf((self) => Effect.retry(self, constant.schedule), error)).toEqual([0, 250, 500])
        expect(yield* timesOf(constant.execute, error)).toEqual([0, 250, 500])
        const custom = yield* Retry.fromSchedule(
          Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
        )
        expect(yield* timesOf((self) => Effect.retry(self, custom.schedule), error)).toEqual([0, 10, 30, 70])
        expect(yield* timesOf(custom.execute, error)).toEqual([0, 10, 30, 70])
      }))

    it.effect("the schedule honours retryAfter through its input: at least that long, never beyond maxDelay", () =>
      Effect.gen(function*() {
        const schedule = yield* Retry.schedule({
          baseDelay: "100 millis",
          maxDelay: "10 seconds",
          jitter: "none",
          maxRetries: 3
        })
        const busy = (retryAfters: ReadonlyArray<Duration.DurationInput>) => (n: number) =>
          new ServerBusy({ retryAfter: Duration.decode(retryAfters[n - 1] ?? 0) })
        // 5 s > 100 ms computed: 5 s; then 10 ms < 200 ms: 200 ms; then 400 ms computed
        expect(yield* timesOf((self) => Effect.retry(self, schedule), busy(["5 seconds", "10 millis"]))).toEqual([
          0,
          5000,
          5200,
          5600
        ])
        // a retryAfter beyond maxDelay stops the schedule at once, as it stops the policy
        expect(yield* timesOf((self) => Effect.retry(self, schedule), busy(["11 seconds"]))).toEqual([0])
        // ... and mid-way too
        expect(yield* timesOf((self) => Effect.retry(self, schedule), busy([0, "1 minute"]))).toEqual([0, 100])
        // rate-limit rejections and open breakers carry one too
        const limited = () =>
          new ResilienceError.RateLimitedError({
            key: "k",
            policy: "client",
            retryAfter: Duration.seconds(3),
            limit: 1,
            remaining: 0
          })
        expect(yield* timesOf((self) => Effect.retry(self, schedule), limited)).toEqual([0, 3000, 6000, 9000])
      }))

    it.effect("the schedule stops on an error retryOn does not select (tags, classes and subclasses, predicates)", () =>
      Effect.gen(function*() {
        class NetworkError extends Error {}
        class ResetError extends NetworkError {}
        const byList = yield* Retry.schedule({ maxRetries: 2, jitter: "none", retryOn: [NetworkError, "TypeError"] })
        const byDefault = yield* Retry.schedule({ maxRetries: 2, jitter: "none" })
        const byPredicate = yield* Retry.schedule({
          maxRetries: 5,
          jitter: "none",
          retryOn: (e) => e instanceof ConnectionError && (e.attempt ?? 0) < 2
        })
        const attempts = (schedule: Schedule.Schedule<unknown, unknown>, error: (n: number) => unknown) =>
          Effect.map(timesOf((self) => Effect.retry(self, schedule), error), (times) => times.length)
        expect(yield* attempts(byList, () => new ResetError())).toBe(3) // a subclass counts
        expect(yield* attempts(byList, () => new TypeError())).toBe(3) // by tag
        expect(yield* attempts(byList, () => new ConnectionError({}))).toBe(1)
        expect(yield* attempts(byDefault, () => new ConnectionError({}))).toBe(3)
        const open = new ResilienceError.CircuitOpenError({ breaker: "b", state: "Open", retryAfter: Duration.zero })
        expect(yield* attempts(byDefault, () => open)).toBe(1)
        expect(yield* attempts(byPredicate, (attempt) => new ConnectionError({ attempt }))).toBe(2)
      }))

    it.effect("the policy steps its schedule only after a failure, once per failure", () =>
      Effect.gen(function*() {
        let steps = 0
        const counting = Schedule.spaced("10 millis").pipe(
          Schedule.intersect(Schedule.recurs(2)),
          Schedule.tapInput(() => Effect.sync(() => steps++))
        )
        const retry = yield* Retry.fromSchedule(counting)
        for (let i = 0; i < 100; i++) expect(yield* retry.execute(Effect.succeed(i))).toBe(i)
        expect(steps).toBe(0)
        const { effect } = flaky(() => new ConnectionError({}), 3)
        const fiber = yield* Effect.fork(retry.execute(effect))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toBe(3)
        expect(steps).toBe(2)
      }))

    it.effect("Retry.schedule validates its options like Retry.exponential, and accepts maxRetries: 0", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<[Retry.Options, string]> = [
          [{ maxRetries: -1 }, "maxRetries"],
          [{ baseDelay: Number.NaN }, "baseDelay"],
          [{ baseDelay: "2 seconds", maxDelay: "1 second" }, "maxDelay"],
          [{ factor: 0.5 }, "factor"],
          [{ jitter: "random" as Retry.Jitter }, "jitter"],
          [{ retryOn: 42 as unknown as Retry.RetryOn }, "retryOn"]
        ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(Retry.schedule(options))
          expect(error).toBeInstanceOf(ResilienceError.InvalidOptionsError)
          expect(error.option).toBe(option)
        }
        const once = yield* Retry.schedule({ maxRetries: 0 })
        expect(yield* timesOf((self) => Effect.retry(self, once), () => new ConnectionError({}))).toEqual([0])
      }))
  })

  describe("which errors", () => {
    it.effect("a success is returned as is, with no retry and no log", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.make()
          const { effect, times } = flaky(() => new ConnectionError({}), 1)
          expect(yield* retry.execute(effect)).toBe(1)
          expect(yield* Retry.withRetry(Effect.succeed("x"), retry)).toBe("x")
          expect(yield* Effect.succeed("y").pipe(Retry.withRetry(retry))).toBe("y")
          expect(times.length).toBe(1)
          expect(lines).toEqual([])
        })
      ))

    it.effect("recovers when a later attempt succeeds", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.constant("1 second")
        const { effect } = flaky(() => new ConnectionError({}), 3)
        const fiber = yield* Effect.fork(retry.execute(effect))
        yield* TestClock.adjust("2 seconds")
        expect(yield* Fiber.join(fiber)).toBe(3)
      }))

    it.effect("by default, every error is retried except an open breaker, a full bulkhead, invalid options", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.constant("1 millis", { maxRetries: 2 })
        const attemptsFor = (error: unknown) =>
          Effect.gen(function*() {
            const { effect, times } = flaky(() => error)
            const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
            yield* TestClock.adjust("1 second")
            expect(yield* Fiber.join(fiber)).toBe(error) // the original error, unchanged
            return times.length
          })
        const open = new ResilienceError.CircuitOpenError({ breaker: "b", state: "Open", retryAfter: Duration.zero })
        expect(yield* attemptsFor(open)).toBe(1)
        expect(yield* attemptsFor(new ResilienceError.BulkheadRejectedError({ bulkhead: "b", reason: "full" })))
          .toBe(1)
        expect(yield* attemptsFor(new ResilienceError.TimeoutError({ duration: Duration.seconds(1) }))).toBe(3)
        expect(
          yield* attemptsFor(
            new ResilienceError.RateLimitedError({
              key: "k",
              policy: "client",
              retryAfter: Duration.zero,
              limit: 1,
              remaining: 0
            })
          )
        ).toBe(3)
        expect(yield* attemptsFor(new Error("plain"))).toBe(3)
      }))

    it.effect("retryOn as a tag list or a predicate: other errors fail at once", () =>
      Effect.gen(function*() {
        const byTag = yield* Retry.constant("1 millis", { retryOn: ["ConnectionError", "TypeError"] })
        const byPredicate = yield* Retry.constant("1 millis", {
          retryOn: (e) => e instanceof ConnectionError && (e.attempt ?? 0) < 2
        })
        const run = (retry: Retry.Retry, error: (n: number) => unknown) =>
          Effect.gen(function*() {
            const { effect, times } = flaky(error)
            const fiber = yield* Effect.fork(Effect.exit(retry.execute(effect)))
            yield* TestClock.adjust("1 second")
            yield* Fiber.join(fiber)
            return times.length
          })
        expect(yield* run(byTag, () => new ConnectionError({}))).toBe(4)
        expect(yield* run(byTag, () => new TypeError("t"))).toBe(4)
        expect(yield* run(byTag, () => new ValidationError())).toBe(1)
        expect(yield* run(byPredicate, (attempt) => new ConnectionError({ attempt }))).toBe(2)
      }))

    it.effect("defects and interruptions are never retried", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.constant("1 millis")
        let attempts = 0
        const exit = yield* Effect.exit(retry.execute(Effect.suspend(() => {
          attempts++
          return Effect.die("boom")
        })))
        expect(exit).toEqual(Exit.die("boom"))
        expect(attempts).toBe(1)
        const interrupted = yield* Effect.exit(retry.execute(Effect.suspend(() => {
          attempts++
          return Effect.interrupt
        })))
        expect(Exit.isInterrupted(interrupted)).toBe(true)
        expect(attempts).toBe(2)
      }))
  })

  describe("Retry-After", () => {
    it.effect("the delay is never shorter than the retryAfter the error carries", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.exponential({ baseDelay: "100 millis", jitter: "none", maxRetries: 2 })
        const { effect, times } = flaky((n) =>
          new ServerBusy({ retryAfter: n === 1 ? Duration.seconds(5) : Duration.millis(10) })
        )
        const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
        yield* TestClock.adjust("4999 millis")
        expect(times).toEqual([0])
        yield* TestClock.adjust("1 millis")
        expect(times).toEqual([0, 5000])
        yield* TestClock.adjust("1 second")
        expect(times).toEqual([0, 5000, 5200]) // computed 200 ms > retryAfter 10 ms
        expect(yield* Fiber.join(fiber)).toBeInstanceOf(ServerBusy)
      }))

    it.effect("a retryAfter beyond maxDelay gives up at once with the original error, and says so", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.exponential({ maxDelay: "30 seconds", service: "broker_api", operation: "order" })
          const error = new ResilienceError.RateLimitedError({
            key: "k",
            policy: "client",
            retryAfter: Duration.minutes(2),
            limit: 10,
            remaining: 0
          })
          const { effect, times } = flaky(() => error)
          expect(yield* Effect.flip(retry.execute(effect))).toBe(error)
          expect(times).toEqual([0])
          expect(lines).toHaveLength(1)
          expect(lines[0]).toMatchObject({
            message: "Retry: giving up",
            level: "WARN",
            annotations: {
              service: "broker_api",
              operation: "order",
              attempt: 1,
              errorTag: "RateLimitedError",
              reason: "retryAfterBeyondMaxDelay",
              retryAfterMillis: 120_000,
              maxDelayMillis: 30_000
            }
          })
        })
      ))
  })

  describe("maxRetryAfter and onRetry", () => {
    it.effect("maxRetryAfter: a retryAfter above maxDelay is waited for up to it, and beyond it given up", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.exponential({
            baseDelay: "100 millis",
            maxDelay: "1 second",
            maxRetryAfter: "30 seconds",
            jitter: "none",
            maxRetries: 2
          })
          const { effect, times } = flaky((n) =>
            new ServerBusy({ retryAfter: n === 1 ? Duration.seconds(20) : Duration.seconds(31) })
          )
          const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
          yield* TestClock.adjust("1 minute")
          expect(yield* Fiber.join(fiber)).toBeInstanceOf(ServerBusy)
          expect(times).toEqual([0, 20_000]) // the backoff stays capped at 1 s; the server's 20 s is honoured
          expect(lines.at(-1)?.annotations).toMatchObject({
            reason: "retryAfterBeyondMaxDelay",
            retryAfterMillis: 31_000,
            maxDelayMillis: 1000,
            maxRetryAfterMillis: 30_000
          })
          // the same through the schedule
          const schedule = yield* Retry.schedule({
            baseDelay: "100 millis",
            maxDelay: "1 second",
            maxRetryAfter: "30 seconds"
          })
          const busy = flaky((n) => new ServerBusy({ retryAfter: Duration.seconds(n === 1 ? 20 : 31) }))
          const viaSchedule = yield* Effect.fork(Effect.flip(Effect.retry(busy.effect, schedule)))
          yield* TestClock.adjust("1 minute")
          yield* Fiber.join(viaSchedule)
          expect(busy.times.map((at) => at - busy.times[0])).toEqual([0, 20_000])
        })
      ))

    it.effect("onRetry sees each retry (attempt, error, delay) before its wait, and not the give-up", () =>
      Effect.gen(function*() {
        const events: Array<[number, unknown, number, number]> = []
        const retry = yield* Retry.exponential({
          baseDelay: "100 millis",
          jitter: "none",
          maxRetries: 3,
          onRetry: ({ attempt, delay, error }) =>
            Effect.map(Clock.currentTimeMillis, (now) => {
              events.push([attempt, (error as ConnectionError).attempt, Duration.toMillis(delay), now])
            })
        })
        const { effect, times } = flaky((attempt) => new ConnectionError({ attempt }))
        const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(fiber)
        expect(times).toEqual([0, 100, 300, 700])
        expect(events).toEqual([[1, 1, 100, 0], [2, 2, 200, 100], [3, 3, 400, 300]])
        const invalid = yield* Effect.flip(Retry.exponential({ onRetry: "log" as unknown as Retry.Options["onRetry"] }))
        expect(invalid.option).toBe("onRetry")
        expect((yield* Effect.flip(Retry.exponential({ maxRetryAfter: "soon" as Duration.DurationInput }))).option)
          .toBe("maxRetryAfter")
        // zero is allowed ("never wait for a Retry-After"), a negative value is a typo, not zero
        expect(Exit.isSuccess(yield* Effect.exit(Retry.exponential({ maxRetryAfter: 0 })))).toBe(true)
        for (const negative of [-1, "-5 seconds", [-1, 0]] as const) {
          const error = yield* Effect.flip(Retry.exponential({ maxRetryAfter: negative }))
          expect([error.option, error.rule]).toEqual(["maxRetryAfter", "must be >= 0"])
        }
      }))
  })

  describe("logs and metrics", () => {
    it.effect("one structured line and one metric per retry, and one line when giving up", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.exponential({
            service: "market_data",
            operation: "getBars",
            baseDelay: "500 millis",
            maxRetries: 3,
            jitter: "none"
          })
          const { effect } = flaky(() => new ConnectionError({}))
          const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
          yield* TestClock.adjust("1 minute")
          yield* Fiber.join(fiber)
          expect(lines.map((l) => [l.message, l.level, l.at, l.annotations])).toEqual([
            ...[[1, 500, 0], [2, 1000, 500], [3, 2000, 1500]].map(([attempt, delayMillis, at]) => [
              "Retry: retrying after failure",
              "DEBUG",
              at,
              { service: "market_data", operation: "getBars", attempt, delayMillis, errorTag: "ConnectionError" }
            ]),
            [
              "Retry: giving up",
              "WARN",
              3500,
              {
                service: "market_data",
                operation: "getBars",
                attempt: 4,
                errorTag: "ConnectionError",
                reason: "exhausted"
              }
            ]
          ])
          const counter = Metric.counter("resilience_retry_attempts_total", {
            description: "Retries scheduled after a failed attempt",
            incremental: true
          }).pipe(
            Metric.tagged("policy", "retry"),
            Metric.tagged("service", "market_data"),
            Metric.tagged("operation", "getBars"),
            Metric.tagged("error_type", "ConnectionError")
          )
          expect((yield* Metric.value(counter)).count).toBe(3)
        })
      ))
    it.effect("at the default log level, a storm of retries logs one give-up warning, not a line per retry or per call", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.constant("100 millis", { maxRetries: 3, service: "storm", operation: "quote" })
          const failing = Effect.fail(new ConnectionError({}))
          const fiber = yield* Effect.fork(
            Effect.forEach(Array.from({ length: 50 }), () => Effect.flip(retry.execute(failing)), {
              concurrency: "unbounded"
            })
          )
          yield* TestClock.adjust("1 second")
          expect(yield* Fiber.join(fiber)).toHaveLength(50)
          // 150 retries and 50 give-ups happened (the metrics count them); the log holds the first give-up only
          expect(lines.map((l) => [l.level, l.message])).toEqual([["WARN", "Retry: giving up"]])
        }), LogLevel.Info))

    it.effect("give-ups warn at most once per 10 s per policy; the next warning counts the quiet ones", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const retry = yield* Retry.constant("100 millis", { maxRetries: 0, service: "storm", operation: "quote" })
          const failing = Effect.fail(new ConnectionError({}))
          for (let i = 0; i < 5; i++) {
            yield* Effect.flip(retry.execute(failing))
            yield* TestClock.adjust("3 seconds")
          }
          // at 0 s a warning; 3, 6, 9 s quiet; 12 s a warning counting those three
          expect(lines.map((l) => [l.level, l.at, l.annotations.quietGiveUpsSinceLastWarning])).toEqual([
            ["WARN", 0, undefined],
            ["WARN", 12_000, 3]
          ])
        }), LogLevel.Info))
  })

  describe("budget", () => {
    it.effect("a storm of 1,000 concurrent failing calls makes at most ratio × calls + floor retries", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          // The whole storm happens within one second of a frozen clock whose
          // sleeps only yield: TestClock would wake the 300 sleepers one by one,
          // checking every fiber each time, for the same outcome.
          const sleeps: Array<number> = []
          const frozen: Clock.Clock = {
            [Clock.ClockTypeId]: Clock.ClockTypeId,
            unsafeCurrentTimeMillis: () => 500,
            currentTimeMillis: Effect.succeed(500),
            unsafeCurrentTimeNanos: () => 500_000_000n,
            currentTimeNanos: Effect.succeed(500_000_000n),
            sleep: (duration) =>
              Effect.zipRight(Effect.sync(() => sleeps.push(Duration.toMillis(duration))), Effect.yieldNow())
          }
          const budget = yield* RetryBudget.make({ ratio: 0.2, minRetriesPerSecond: 10, window: "10 seconds" })
          const retry = yield* Retry.constant("100 millis", { maxRetries: 3, budget, service: "storm" })
          let attempts = 0
          const failing = Effect.suspend(() => {
            attempts++
            return Effect.fail(new ConnectionError({}))
          })
          const errors = yield* Effect.forEach(
            Array.from({ length: 1000 }),
            () => Effect.flip(retry.execute(failing)),
            { concurrency: "unbounded" }
          ).pipe(Effect.withClock(frozen))
          expect(errors.every((e) => e instanceof ConnectionError)).toBe(true)
          const allowedRetries = 0.2 * 1000 + 10 * 10
          expect(attempts).toBeLessThanOrEqual(1000 + allowedRetries)
          // and the budget was really used, not just refused
          expect(attempts).toBe(1000 + allowedRetries)
          expect(sleeps).toEqual(Array.from({ length: allowedRetries }, () => 100))
          expect(yield* Effect.withClock(budget.snapshot, frozen)).toEqual({
            calls: 1000,
            retries: 300,
            allowed: 300,
            available: 0
          })
          const reasons = lines.map((l) => l.annotations.reason ?? "retry")
          expect(reasons.filter((r) => r === "retry").length).toBe(300)
          expect(reasons.filter((r) => r === "budgetExhausted").length).toBe(1000)
        })
      ))

    it.effect("a spent budget abandons the retry with the original error, logged", () =>
      captureLogs((lines) =>
        Effect.gen(function*() {
          const budget = yield* RetryBudget.make({ ratio: 0.5, minRetriesPerSecond: 0 })
          const retry = yield* Retry.constant("1 millis", { maxRetries: 5, budget, service: "svc" })
          const { effect, times } = flaky(() => new ConnectionError({}))
          const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
          yield* TestClock.adjust("1 second")
          expect(yield* Fiber.join(fiber)).toBeInstanceOf(ConnectionError)
          expect(times.length).toBe(1) // 0.5 × 1 call = 0.5 retry: not a whole one
          expect(lines.at(-1)?.annotations).toMatchObject({ reason: "budgetExhausted", service: "svc" })
        })
      ))
  })

  describe("retryOn", () => {
    class NetworkError extends Error {}
    class ResetError extends NetworkError {}
    class OtherError extends Error {}

    it.effect("an error class selects its instances and its subclasses' (instanceof); tags still match", () =>
      Effect.gen(function*() {
        const retry = yield* Retry.constant("1 second", { maxRetries: 2, retryOn: [NetworkError, "ValidationError"] })
        const cases: ReadonlyArray<readonly [() => Error, number]> = [
          [() => new NetworkError(), 3],
          [() => new ResetError(), 3], // a subclass counts
          [() => new ValidationError(), 3], // by tag
          [() => new OtherError(), 1],
          [() => new ConnectionError({}), 1]
        ]
        for (const [error, calls] of cases) {
          const { effect, times } = flaky(error)
          const fiber = yield* Effect.fork(Effect.flip(retry.execute(effect)))
          yield* TestClock.adjust("1 minute")
          expect(Object.getPrototypeOf(yield* Fiber.join(fiber))).toBe(Object.getPrototypeOf(error()))
          expect(times).toHaveLength(calls)
        }
      }))

    it.effect("a subclass of a tagged error class is retried", () =>
      Effect.gen(function*() {
        class RefusedError extends ConnectionError {}
        const retry = yield* Retry.constant("1 second", { maxRetries: 1, retryOn: [ConnectionError] })
        const { effect, times } = flaky(() => new RefusedError({}), 2)
        const fiber = yield* Effect.fork(retry.execute(effect))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toBe(2)
        expect(times).toEqual([0, 1000])
      }))
  })

  describe("options", () => {
    it.effect("invalid options are an InvalidOptionsError naming the option", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<[Retry.Options, string]> = [
          [{ maxRetries: -1 }, "maxRetries"],
          [{ maxRetries: Number.NaN }, "maxRetries"],
          [{ maxRetries: 1.5 }, "maxRetries"],
          [{ baseDelay: 0 }, "baseDelay"],
          [{ baseDelay: -5 }, "baseDelay"],
          [{ baseDelay: Number.NaN }, "baseDelay"],
          [{ maxDelay: 0 }, "maxDelay"],
          [{ maxDelay: Duration.infinity }, "maxDelay"],
          [{ baseDelay: "2 seconds", maxDelay: "1 second" }, "maxDelay"],
          [{ factor: 0.5 }, "factor"],
          [{ factor: Number.NaN }, "factor"],
          [{ jitter: "random" as Retry.Jitter }, "jitter"],
          [{ retryOn: 42 as unknown as Retry.RetryOn }, "retryOn"],
          [{ budget: {} as RetryBudget.RetryBudget }, "budget"],
          [{ service: "" }, "service"]
        ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(Retry.exponential(options))
          expect(error).toBeInstanceOf(ResilienceError.InvalidOptionsError)
          expect(error.option).toBe(option)
          expect(error.policy).toBe("Retry")
        }
        expect((yield* Effect.flip(Retry.constant(0))).option).toBe("delay")
        expect((yield* Effect.flip(Retry.constant("2 minutes"))).option).toBe("delay")
        expect((yield* Effect.flip(Retry.constant("1 second", { maxRetries: -1 }))).option).toBe("maxRetries")
        expect(
          (yield* Effect.flip(Retry.exponential({ retryOn: ["ConnectionError", 42] as unknown as Retry.RetryOn })))
            .option
        ).toBe(
          "retryOn"
        )
      }))

    it.effect("maxRetries: 0 is valid: one call, its error returned, no delay", () =>
      Effect.gen(function*() {
        for (
          const retry of [
            yield* Retry.exponential({ maxRetries: 0 }),
            yield* Retry.constant("1 second", { maxRetries: 0 })
          ]
        ) {
          const { effect, times } = flaky(() => new ConnectionError({}))
          const error = yield* Effect.flip(retry.execute(effect))
          expect(error).toBeInstanceOf(ConnectionError)
          expect(times).toEqual([0])
        }
      }))
  })
})
