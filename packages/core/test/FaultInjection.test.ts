import { FaultInjection, Policy, ResilienceError, Retry, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Random, Ref, TestClock } from "effect"
import { counterValue } from "./utils/metrics.js"

const CALLS = 10_000

/** Runs `n` calls through `execute`, counting the calls that reached the inner effect. */
const countCalls = <E, A>(
  injection: FaultInjection.FaultInjection<E, A>,
  n: number
): Effect.Effect<{ readonly ran: number; readonly exits: ReadonlyArray<Exit.Exit<unknown, unknown>> }> =>
  Effect.gen(function*() {
    let ran = 0
    const inner = Effect.sync(() => {
      ran++
      return "real" as const
    })
    const exits: Array<Exit.Exit<unknown, unknown>> = []
    for (let i = 0; i < n; i++) exits.push(yield* Effect.exit(injection.execute(inner)))
    return { ran, exits }
  })

describe("FaultInjection", () => {
  it.effect("off by default: every call runs, nothing is injected, no random draw", () =>
    Effect.gen(function*() {
      const injection = yield* FaultInjection.failure({ rate: 1 })
      expect(yield* Ref.get(injection.enabled)).toBe(false)
      let draws = 0
      const counting = Random.make(1)
      const spy: Random.Random = {
        ...counting,
        next: Effect.suspend(() => {
          draws++
          return counting.next
        })
      }
      const { exits, ran } = yield* Effect.withRandom(countCalls(injection, 1000), spy)
      expect(ran).toBe(1000)
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(draws).toBe(0)
    }))

  for (const [rate, seed] of [[0.1, "a"], [0.3, "b"], [0.5, "c"]] as const) {
    it.effect(`the injected share over ${CALLS} calls is within 4 standard deviations of rate ${rate}`, () =>
      Effect.gen(function*() {
        const injection = yield* FaultInjection.failure({ rate, enabled: true, name: "chaos" })
        const { exits, ran } = yield* Effect.withRandom(countCalls(injection, CALLS), Random.make(seed))
        const failed = exits.filter(Exit.isFailure)
        expect(failed.length + ran).toBe(CALLS)
        const mean = CALLS * rate
        const sd = Math.sqrt(CALLS * rate * (1 - rate))
        expect(Math.abs(failed.length - mean)).toBeLessThanOrEqual(4 * sd)
        expect(failed[0]).toEqual(Exit.fail(new FaultInjection.InjectedFaultError({ faultInjection: "chaos" })))
      }))
  }

  it.effect("a seeded Random makes a run reproducible", () =>
    Effect.gen(function*() {
      const injection = yield* FaultInjection.failure({ rate: 0.25, enabled: true })
      // a fresh generator per run, from the same seed
      const pattern = Effect.suspend(() =>
        Effect.map(
          Effect.withRandom(countCalls(injection, 200), Random.make(42)),
          ({ exits }) => exits.map(Exit.isFailure)
        )
      )
      expect(yield* pattern).toEqual(yield* pattern)
    }))

  it.effect("rate 0 never injects and rate 1 always does", () =>
    Effect.gen(function*() {
      const never = yield* FaultInjection.failure({ rate: 0, enabled: true })
      expect((yield* countCalls(never, 500)).ran).toBe(500)
      const always = yield* FaultInjection.failure({ rate: 1, enabled: true, error: () => "boom" as const })
      const { exits, ran } = yield* countCalls(always, 500)
      expect(ran).toBe(0)
      expect(exits.every((exit) => Exit.isFailure(exit))).toBe(true)
    }))

  it.effect("switched at run time through its Ref; one shared Ref switches several injections", () =>
    Effect.gen(function*() {
      const chaos = yield* Ref.make(false)
      const fail = yield* FaultInjection.failure({ rate: 1, enabled: chaos, error: () => "injected" as const })
      const answer = yield* FaultInjection.result({ rate: 1, enabled: chaos, value: () => "canned" as const })
      const call = Effect.succeed("real" as const).pipe(answer.execute)
      expect(yield* call).toBe("real")
      expect(yield* Effect.either(fail.execute(call))).toMatchObject({ _tag: "Right", right: "real" })
      yield* Ref.set(chaos, true)
      expect(yield* call).toBe("canned")
      expect(yield* Effect.flip(fail.execute(call))).toBe("injected")
      yield* Ref.set(chaos, false)
      expect(yield* fail.execute(call)).toBe("real")
      // its own switch, when none is given
      const own = yield* FaultInjection.failure({ rate: 1 })
      yield* Ref.set(own.enabled, true)
      expect(yield* Effect.exit(own.execute(Effect.void))).toMatchObject({ _tag: "Failure" })
    }))

  it.effect("latency is slept on the fiber's Clock before the call runs", () =>
    Effect.gen(function*() {
      const slow = yield* FaultInjection.latency({ rate: 1, latency: "2 seconds", enabled: true })
      const ran = yield* Ref.make(false)
      const fiber = yield* Effect.fork(slow.execute(Effect.as(Ref.set(ran, true), "quote")))
      yield* TestClock.adjust("1999 millis")
      expect(yield* Ref.get(ran)).toBe(false)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("quote")
      expect(yield* Ref.get(ran)).toBe(true)
    }))

  it.effect("injected failures are retried by the stack around them, as real ones", () =>
    Effect.gen(function*() {
      const flaky = yield* FaultInjection.failure({ rate: 0.5, enabled: true })
      const retries = yield* Ref.make(0)
      const retry = yield* Retry.constant("10 millis", {
        maxRetries: 50,
        retryOn: ["InjectedFaultError"],
        onRetry: () => Ref.update(retries, (n) => n + 1)
      })
      const policy = Policy.stack({ retry, faultInjection: flaky })
      const calls = Effect.forEach(Array.from({ length: 20 }), () => policy(Effect.succeed("ok")))
      const fiber = yield* Effect.fork(Effect.withRandom(calls, Random.make("retry")))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toEqual(Array.from({ length: 20 }, () => "ok"))
      expect(yield* Ref.get(retries)).toBeGreaterThan(0)
    }))

  it.effect("in a stack it sits inside the timeout: injected latency meets the timeout", () =>
    Effect.gen(function*() {
      const slow = yield* FaultInjection.latency({ rate: 1, latency: "5 seconds", enabled: true })
      const timeout = yield* Timeout.make({ duration: "1 second" })
      const policy = Policy.stack({ faultInjection: slow, timeout })
      const fiber = yield* Effect.fork(Effect.exit(policy(Effect.succeed("ok"))))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual(
        Exit.fail(new ResilienceError.TimeoutError({ duration: Duration.seconds(1) }))
      )
    }))

  it.effect("metrics: injections by reason (the kind), under policy fault_injection and the injection's name", () =>
    Effect.gen(function*() {
      const injected = (service: string, reason: string) =>
        counterValue("resilience_fault_injections_total", "fault_injection", service, { reason })
      const failure = yield* FaultInjection.failure({ rate: 1, name: "fault_metrics_failure" })
      const result = yield* FaultInjection.result({ rate: 1, value: () => "canned", name: "fault_metrics_result" })
      // off: nothing counted
      yield* countCalls(failure, 3)
      expect(yield* injected("fault_metrics_failure", "failure")).toBe(0)
      yield* Ref.set(failure.enabled, true)
      yield* Ref.set(result.enabled, true)
      yield* countCalls(failure, 3)
      yield* countCalls(result, 2)
      expect(yield* injected("fault_metrics_failure", "failure")).toBe(3)
      expect(yield* injected("fault_metrics_result", "result")).toBe(2)
      expect(yield* injected("fault_metrics_result", "failure")).toBe(0)
    }))

  it.effect("invalid options are a typed InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(FaultInjection.failure({ rate: 1.5 }))).toMatchObject({
        _tag: "InvalidOptionsError",
        policy: "FaultInjection",
        option: "rate",
        rule: "must be a number in [0, 1]"
      })
      expect(yield* Effect.flip(FaultInjection.failure({ rate: Number.NaN }))).toMatchObject({ option: "rate" })
      expect(yield* Effect.flip(FaultInjection.latency({ rate: 0.1, latency: -1 }))).toMatchObject({
        option: "latency",
        rule: "must be >= 0"
      })
      expect(yield* Effect.flip(FaultInjection.latency({ rate: 0.1 } as any))).toMatchObject({
        option: "latency",
        rule: "is required"
      })
      expect(yield* Effect.flip(FaultInjection.result({ rate: 0.1, value: 3 as any }))).toMatchObject({
        option: "value",
        rule: "must be a function"
      })
      expect(yield* Effect.flip(FaultInjection.failure({ rate: 0.1, enabled: "yes" as any }))).toMatchObject({
        option: "enabled",
        rule: "must be true, false or a Ref<boolean>"
      })
    }))
})
