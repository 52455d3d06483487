import { Bulkhead, CircuitBreaker, Policy, Retry, RetryBudget, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Clock,
  ConfigProvider,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck,
  Fiber,
  FiberRef,
  Option,
  TestClock
} from "effect"

class BrokerError extends Data.TaggedError("BrokerError")<{}> {}
class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}
class ConnectionRefusedError extends Data.TaggedError("ConnectionRefusedError")<{}> {}

/** A simulated broker call that counts what was actually sent. */
const makeBroker = <E>(outcome: () => Effect.Effect<string, E>) => {
  const sent: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    sent.push(now)
    return outcome()
  })
  return { sent, call }
}

const broker = (operation: string, extra: Partial<Policy.WithResilienceOptions> = {}) =>
  Policy.withResilience({ service: "trading_gateway", operation, serviceType: "broker_api", ...extra })

const provideDefault = Effect.provide(Policy.layerDefault)

describe("Policy", () => {
  describe("compose / stack", () => {
    it.effect("compose applies the first policy outermost", () =>
      Effect.gen(function*() {
        const entered: Array<string> = []
        const tracer = (name: string): Policy.Policy => (self) =>
          Effect.suspend(() => {
            entered.push(name)
            return self
          })
        const policy = Policy.compose(tracer("outer"), tracer("middle"), tracer("inner"))
        const result = yield* policy(Effect.sync(() => entered.push("call")))
        expect(result).toBe(4)
        expect(entered).toEqual(["outer", "middle", "inner", "call"])
        expect(yield* Policy.compose()(Effect.succeed(1))).toBe(1)
      }))

    it.effect("stack puts the parts in the documented order whatever order they are given in", () =>
      Effect.gen(function*() {
        const resilience = yield* Policy.Resilience
        const parts = yield* resilience.stack({ service: "s", operation: "o", serviceType: "broker_api" })
        const entered: Array<string> = []
        const spy = <P extends { readonly execute: Policy.Policy<any> }>(name: string, part: P): P => ({
          ...part,
          execute: (self: Effect.Effect<any, any, any>) =>
            part.execute(Effect.suspend(() => {
              entered.push(name)
              return self
            }))
        })
        const policy = Policy.stack({
          timeout: spy("timeout", parts.timeout),
          circuitBreaker: spy("circuitBreaker", parts.circuitBreaker),
          retry: spy("retry", parts.retry),
          bulkhead: spy("bulkhead", parts.bulkhead)
        })
        yield* policy(Effect.void)
        // each spy runs just inside its policy, so the innermost policy's spy runs last
        expect(entered).toEqual(["bulkhead", "retry", "circuitBreaker", "timeout"])
      }).pipe(provideDefault))
  })

  describe("withResilience with the broker_api profile", () => {
    it.effect("5 failures open the breaker; it rejects for 60 s without sending; half-open after", () =>
      Effect.gen(function*() {
        const { call, sent } = makeBroker(() => Effect.fail(new BrokerError()))
        // retries off, to count breaker failures one call at a time
        const policy = broker("place_order", { retryOn: [] })
        for (let i = 0; i < 5; i++) {
          const error = yield* Effect.flip(policy(call))
          expect(error._tag).toBe("BrokerError")
        }
        expect(sent).toHaveLength(5)
        const stack = yield* Policy.resolve({
          service: "trading_gateway",
          operation: "place_order",
          serviceType: "broker_api",
          retryOn: []
        })
        expect(yield* stack.circuitBreaker.state).toBe("Open")

        const rejected = yield* Effect.flip(policy(call))
        expect(rejected._tag).toBe("CircuitOpenError")
        if (rejected._tag === "CircuitOpenError") {
          expect(rejected.breaker).toBe("trading_gateway/place_order")
          expect(Duration.toSeconds(rejected.retryAfter)).toBe(60)
        }
        yield* TestClock.adjust("59 seconds")
        expect((yield* Effect.flip(policy(call)))._tag).toBe("CircuitOpenError")
        expect(sent).toHaveLength(5)

        yield* TestClock.adjust("1 second")
        expect(yield* stack.circuitBreaker.state).toBe("HalfOpen")
        const healthy = makeBroker(() => Effect.succeed("filled"))
        expect(yield* policy(healthy.call)).toBe("filled")
        expect(yield* stack.circuitBreaker.state).toBe("Closed")
      }).pipe(provideDefault))

    it.effect("retries 3 times, each delay within its full-jitter bound (1 s, 2 s, 4 s), then fails with the error", () =>
      Effect.gen(function*() {
        const { call, sent } = makeBroker(() => Effect.fail(new BrokerError()))
        const fiber = yield* Effect.fork(broker("get_positions")(call))
        yield* TestClock.adjust("1 minute")
        expect((yield* Effect.flip(Fiber.join(fiber)))._tag).toBe("BrokerError")
        expect(sent).toHaveLength(4)
        const gaps = sent.slice(1).map((t, i) => t - sent[i]!)
        gaps.forEach((gap, i) => {
          expect(gap).toBeGreaterThanOrEqual(0)
          expect(gap).toBeLessThanOrEqual(Math.min(30_000, 1_000 * 2 ** i))
        })
      }).pipe(provideDefault))

    it.effect("once retries open the breaker, the retrying call stops at once with CircuitOpenError", () =>
      Effect.gen(function*() {
        const { call, sent } = makeBroker(() => Effect.fail(new BrokerError()))
        const policy = broker("get_account")
        const first = yield* Effect.fork(policy(call))
        yield* TestClock.adjust("1 minute")
        expect((yield* Effect.flip(Fiber.join(first)))._tag).toBe("BrokerError")
        expect(sent).toHaveLength(4)
        // the 5th attempt opens the breaker; its retry is rejected and not retried
        const second = yield* Effect.fork(policy(call))
        yield* TestClock.adjust("5 seconds")
        expect((yield* Effect.flip(Fiber.join(second)))._tag).toBe("CircuitOpenError")
        expect(sent).toHaveLength(5)
        // an open breaker answers without the clock moving: no sleep, no loop
        const third = yield* Effect.flip(policy(call))
        expect(third._tag).toBe("CircuitOpenError")
        expect(sent).toHaveLength(5)
      }).pipe(provideDefault))

    it.effect("the bulkhead admits 10 calls, queues 20, rejects the next as full; every call completes after", () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const { call, sent } = makeBroker(() => Effect.as(Deferred.await(gate), "ok"))
        const policy = broker("get_quote")
        const fibers = yield* Effect.forEach(
          Array.from({ length: 30 }),
          () => Effect.fork(policy(call)),
          { concurrency: "unbounded" }
        )
        yield* Effect.yieldNow()
        const stack = yield* Policy.resolve({
          service: "trading_gateway",
          operation: "get_quote",
          serviceType: "broker_api"
        })
        expect(yield* stack.bulkhead.stats).toMatchObject({
          active: 10,
          waiting: 20,
          maxConcurrent: 10,
          maxWaiting: 20
        })
        expect(sent).toHaveLength(10)

        const rejected = yield* Effect.flip(policy(call))
        expect(rejected).toMatchObject({
          _tag: "BulkheadRejectedError",
          reason: "full",
          bulkhead: "trading_gateway/get_quote"
        })
        expect(sent).toHaveLength(10)
        // a full bulkhead is not a broker failure
        expect((yield* stack.circuitBreaker.snapshot).failures).toBe(0)

        yield* Deferred.succeed(gate, undefined)
        const results = yield* Effect.forEach(fibers, Fiber.join)
        expect(results).toHaveLength(30)
        expect(sent).toHaveLength(30)
        expect(yield* stack.bulkhead.stats).toMatchObject({ active: 0, waiting: 0 })
      }).pipe(provideDefault))

    it.effect("an attempt is cut at 10 s with TimeoutError, which counts as a breaker failure", () =>
      Effect.gen(function*() {
        const { call } = makeBroker(() => Effect.never)
        const fiber = yield* Effect.fork(broker("cancel_order", { retryOn: [] })(call))
        yield* TestClock.adjust("9999 millis")
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag).toBe("TimeoutError")
        if (error._tag === "TimeoutError") {
          expect(Duration.toSeconds(error.duration)).toBe(10)
          expect(error.operation).toBe("trading_gateway/cancel_order")
        }
        const stack = yield* Policy.resolve({
          service: "trading_gateway",
          operation: "cancel_order",
          serviceType: "broker_api",
          retryOn: []
        })
        expect((yield* stack.circuitBreaker.snapshot).failures).toBe(1)
      }).pipe(provideDefault))
  })

  describe("sharing and caching", () => {
    it.effect("the same service and operation always get the same breaker and bulkhead", () =>
      Effect.gen(function*() {
        const a = yield* Policy.resolve({ service: "gw", operation: "place_order", serviceType: "broker_api" })
        const b = yield* Policy.resolve({ service: "gw", operation: "place_order", serviceType: "broker_api" })
        expect(b).toBe(a)
        // a different retry whitelist is a different stack over the same breaker and bulkhead
        const c = yield* Policy.resolve({
          service: "gw",
          operation: "place_order",
          serviceType: "broker_api",
          retryOn: ["X"]
        })
        expect(c).not.toBe(a)
        expect(c.circuitBreaker).toBe(a.circuitBreaker)
        expect(c.bulkhead).toBe(a.bulkhead)
        expect(c.budget).toBe(a.budget)
        const other = yield* Policy.resolve({ service: "gw", operation: "get_quote", serviceType: "broker_api" })
        expect(other.circuitBreaker).not.toBe(a.circuitBreaker)
        expect(other.bulkhead).not.toBe(a.bulkhead)
        // retries of one service share one budget
        expect(other.budget).toBe(a.budget)

        // two separately built withResilience policies drive the same breaker
        const failing = Effect.fail(new BrokerError())
        for (let i = 0; i < 3; i++) {
          yield* Effect.flip(
            Policy.withResilience(failing, {
              service: "gw",
              operation: "place_order",
              serviceType: "broker_api",
              retryOn: []
            })
          )
          yield* Effect.flip(
            failing.pipe(
              Policy.withResilience({ service: "gw", operation: "place_order", serviceType: "broker_api", retryOn: [] })
            )
          )
        }
        expect((yield* a.circuitBreaker.snapshot).failures).toBe(5)
        expect(yield* a.circuitBreaker.state).toBe("Open")
        const registry = (yield* Policy.Resilience).registry
        expect((yield* registry.snapshot).map((s) => s.name).sort()).toEqual(["gw/get_quote", "gw/place_order"])
      }).pipe(provideDefault))

    it.effect("one withResilience value works under two Resilience instances, each with its own breakers", () =>
      Effect.gen(function*() {
        const policy = broker("place_order", { retryOn: [] })
        const failing = Effect.fail(new BrokerError())
        for (let i = 0; i < 5; i++) yield* Effect.flip(policy(failing))
        expect((yield* Effect.flip(policy(failing)))._tag).toBe("CircuitOpenError")
        const elsewhere = yield* Effect.flip(policy(failing)).pipe(Effect.provide(Policy.layerDefault))
        expect(elsewhere._tag).toBe("BrokerError")
      }).pipe(provideDefault))
  })

  describe("profiles", () => {
    it.effect("order_execution retries ConnectionRefusedError but never a timeout (the order may have been sent)", () =>
      Effect.gen(function*() {
        const refused = makeBroker(() => Effect.fail(new ConnectionRefusedError()))
        const options = { service: "gw", serviceType: "order_execution" }
        const place = Policy.withResilience({ ...options, operation: "place_order" })
        const fiber = yield* Effect.fork(place(refused.call))
        yield* TestClock.adjust("1 minute")
        yield* Fiber.await(fiber)
        expect(refused.sent).toHaveLength(3)

        // (3 failures opened place_order's breaker: use a fresh operation)
        const hung = makeBroker(() => Effect.never)
        const timedOut = yield* Effect.fork(Policy.withResilience(hung.call, { ...options, operation: "amend_order" }))
        yield* TestClock.adjust("5 minutes")
        expect((yield* Effect.flip(Fiber.join(timedOut)))._tag).toBe("TimeoutError")
        expect(hung.sent).toHaveLength(1)
      }).pipe(provideDefault))

    it.effect("an unknown service type fails with InvalidOptionsError naming serviceType", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.succeed(1).pipe(Policy.withResilience({ service: "gw", operation: "x", serviceType: "brokr_api" }))
        )
        expect(error._tag).toBe("InvalidOptionsError")
        if (error._tag === "InvalidOptionsError") {
          expect(error.option).toBe("serviceType")
          expect(error.message).toContain("broker_api")
        }
      }).pipe(provideDefault))

    it.effect("a service's override and service type come from the configuration", () =>
      Effect.gen(function*() {
        const stack = yield* Policy.resolve({ service: "alpaca", operation: "place_order" })
        expect(stack.serviceType).toBe("broker_api")
        expect(stack.bulkhead.maxConcurrent).toBe(2)
        expect(stack.bulkhead.maxWaiting).toBe(20)
        expect(Duration.toSeconds(stack.timeout.duration)).toBe(10)
      }).pipe(
        Effect.provide(
          Policy.layerFrom({ services: { alpaca: { serviceType: "broker_api", bulkhead: { maxConcurrent: 2 } } } })
        )
      ))

    it.effect("layerConfig reads the environment: RESILIENCE_BROKER_API_FAILURE_THRESHOLD=2 trips after 2", () =>
      Effect.gen(function*() {
        const policy = broker("place_order", { retryOn: [] })
        const failing = Effect.fail(new BrokerError())
        yield* Effect.flip(policy(failing))
        yield* Effect.flip(policy(failing))
        expect((yield* Effect.flip(policy(failing)))._tag).toBe("CircuitOpenError")
      }).pipe(
        Effect.provide(Policy.layerConfig),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["RESILIENCE_BROKER_API_FAILURE_THRESHOLD", "2"]]))
        )
      ))

    it.effect("maxRetries: 0 in a service type's profile: every withResilience call makes one attempt", () =>
      Effect.gen(function*() {
        const failing = makeBroker(() => Effect.fail(new BrokerError()))
        const options = { service: "gw", operation: "get_account", serviceType: "broker_api" }
        expect(yield* Effect.flip(Policy.withResilience(failing.call, options))).toBeInstanceOf(BrokerError)
        expect(yield* Effect.flip(failing.call.pipe(Policy.withResilience(options)))).toBeInstanceOf(BrokerError)
        expect(failing.sent).toEqual([0, 0])
        const ok = makeBroker(() => Effect.succeed("ok"))
        expect(yield* Policy.withResilience(ok.call, { ...options, operation: "get_quote" })).toBe("ok")
        expect((yield* Policy.resolve(options)).profile.retry.maxRetries).toBe(0)
      }).pipe(Effect.provide(Policy.layerFrom({ serviceTypes: { broker_api: { retry: { maxRetries: 0 } } } }))))

    it.effect("RESILIENCE_<TYPE>_MAX_RETRIES=0: withResilience makes one attempt", () =>
      Effect.gen(function*() {
        const failing = makeBroker(() => Effect.fail(new BrokerError()))
        const options = { service: "gw", operation: "get_account", serviceType: "market_data" }
        const fiber = yield* Effect.fork(Effect.flip(Policy.withResilience(failing.call, options)))
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBeInstanceOf(BrokerError)
        expect(failing.sent).toEqual([0])
      }).pipe(
        Effect.provide(Policy.layerConfig),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["RESILIENCE_MARKET_DATA_MAX_RETRIES", "0"]])))
      ))

    it.effect("retryOn takes error classes: a subclass of a listed class is retried", () =>
      Effect.gen(function*() {
        class NetworkError extends Error {}
        class ResetError extends NetworkError {}
        const reset = makeBroker(() => Effect.fail(new ResetError()))
        const fiber = yield* Effect.fork(
          Effect.flip(Policy.withResilience(reset.call, {
            service: "gw",
            operation: "get_account",
            serviceType: "broker_api",
            retryOn: [NetworkError]
          }))
        )
        yield* TestClock.adjust("5 minutes")
        expect(yield* Fiber.join(fiber)).toBeInstanceOf(ResetError)
        expect(reset.sent.length).toBe(4) // the broker_api profile: 3 retries
        const other = makeBroker(() => Effect.fail(new Error("other")))
        const once = yield* Effect.fork(
          Effect.flip(Policy.withResilience(other.call, {
            service: "gw",
            operation: "get_quote",
            serviceType: "broker_api",
            retryOn: [NetworkError]
          }))
        )
        yield* TestClock.adjust("5 minutes")
        yield* Fiber.join(once)
        expect(other.sent.length).toBe(1)
      }).pipe(provideDefault))

    it.effect("layerConfig fails with the variable's name when a value is invalid", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.provide(Policy.Resilience, Policy.layerConfig))
        expect(error.message).toContain("RESILIENCE_MARKET_DATA_MAX_DELAY")
        expect(error.message).toContain("must be >= baseDelay")
      }).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["RESILIENCE_MARKET_DATA_MAX_DELAY", "100ms"]])))
      ))
  })
})

describe("Policy.stack fused (all four parts from this library)", () => {
  type Kind = "ok" | "fail" | "okAfter" | "failAfter" | "die" | "hang"
  interface Step {
    readonly kind: Kind
    readonly millis: number
    readonly interruptAt: number | undefined
  }
  const inner = (step: Step): Effect.Effect<string, BrokerError> => {
    switch (step.kind) {
      case "ok":
        return Effect.succeed("ok")
      case "fail":
        return Effect.fail(new BrokerError())
      case "okAfter":
        return Effect.as(Effect.sleep(step.millis), "ok")
      case "failAfter":
        return Effect.zipRight(Effect.sleep(step.millis), Effect.fail(new BrokerError()))
      case "die":
        return Effect.die("boom")
      case "hang":
        return Effect.never
    }
  }
  const summary = (exit: Exit.Exit<string, unknown>): string =>
    Exit.match(exit, {
      onSuccess: (a) => a,
      onFailure: (cause) =>
        Cause.isInterruptedOnly(cause)
          ? "interrupted"
          : Option.match(Cause.failureOption(cause), {
            onNone: () => "die",
            onSome: (e) => (e as { _tag: string })._tag
          })
    })

  const makeParts = Effect.gen(function*() {
    const budget = yield* RetryBudget.make({ ratio: 0.5, minRetriesPerSecond: 1 })
    return {
      bulkhead: yield* Bulkhead.make({ name: "fused", maxConcurrent: 2, maxWaiting: 10 }),
      retry: yield* Retry.exponential({ maxRetries: 2, baseDelay: "10 millis", jitter: "none", budget }),
      circuitBreaker: yield* CircuitBreaker.make({
        service: "fused",
        resource: "op",
        failureThreshold: 4,
        resetTimeout: "1 second"
      }),
      timeout: yield* Timeout.make({ duration: "100 millis" }),
      budget
    }
  })

  // the same calls, one after another, through a stack; what every call returned and what the parts counted
  const runSteps = (steps: ReadonlyArray<Step>, fused: boolean) =>
    Effect.gen(function*() {
      const parts = yield* makeParts
      const { budget, bulkhead, circuitBreaker, retry, timeout } = parts
      const policy: Policy.Policy<Policy.Rejection> = fused
        ? Policy.stack({ bulkhead, retry, circuitBreaker, timeout })
        : (self) => bulkhead.execute(retry.execute(circuitBreaker.execute(timeout.execute(self))))
      const outcomes: Array<string> = []
      for (const step of steps) {
        const fiber = yield* Effect.fork(policy(inner(step)))
        if (step.interruptAt !== undefined) {
          yield* TestClock.adjust(step.interruptAt)
          yield* Fiber.interrupt(fiber)
        }
        for (let i = 0; i < 20 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("50 millis")
        outcomes.push(summary(yield* Fiber.await(fiber)))
        // every permit is back after each call, whatever its exit
        expect(yield* bulkhead.stats).toMatchObject({ active: 0, waiting: 0 })
      }
      const { calls, failures, ignored, interrupted, rejections, state, successes, trips } = yield* circuitBreaker
        .snapshot
      const { calls: budgetCalls, retries } = yield* budget.snapshot
      return {
        outcomes,
        breaker: { calls, failures, ignored, interrupted, rejections, state, successes, trips },
        budget: { budgetCalls, retries }
      }
    })

  const step = FastCheck.record({
    kind: FastCheck.constantFrom<Kind>("ok", "fail", "okAfter", "failAfter", "die", "hang"),
    millis: FastCheck.integer({ min: 1, max: 150 }),
    interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 300 }), { nil: undefined, freq: 4 })
  })

  it.effect.prop(
    "behaves exactly as the composition: same exits, same breaker, bulkhead and budget accounting",
    [FastCheck.array(step, { maxLength: 12 })],
    ([steps]) =>
      Effect.gen(function*() {
        const composed = yield* runSteps(steps, false)
        const fused = yield* runSteps(steps, true)
        expect(fused).toEqual(composed)
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("a full bulkhead queues FIFO behind the fused path; interrupted callers give their permit back", () =>
    Effect.gen(function*() {
      const { bulkhead, circuitBreaker, retry, timeout } = yield* makeParts
      const policy = Policy.stack({ bulkhead, retry, circuitBreaker, timeout })
      const order: Array<number> = []
      const call = (i: number, millis: number) =>
        policy(Effect.as(Effect.sleep(millis), i).pipe(Effect.tap(() => order.push(i))))
      const running = yield* Effect.forEach([0, 1], (i) => Effect.fork(call(i, 50)))
      yield* Effect.yieldNow()
      expect(yield* bulkhead.stats).toMatchObject({ active: 2, waiting: 0 })
      const queued = yield* Effect.forEach([2, 3, 4], (i) => Effect.fork(call(i, 10)))
      yield* Effect.yieldNow()
      expect(yield* bulkhead.stats).toMatchObject({ active: 2, waiting: 3 })
      // interrupt a running call (fused path, suspended inner) and a queued one
      yield* Fiber.interrupt(running[1])
      yield* Fiber.interrupt(queued[1])
      expect(yield* bulkhead.stats).toMatchObject({ active: 2, waiting: 1 })
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(running[0])).toBe(0)
      expect(yield* Fiber.join(queued[0])).toBe(2)
      expect(yield* Fiber.join(queued[2])).toBe(4)
      expect(order).toEqual([2, 4, 0]) // 2 takes the freed permit at 0 ms, 4 (3 left the queue) the next at 10 ms
      expect(yield* bulkhead.stats).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("the permit is held across retries of a synchronous failure and returned after", () =>
    Effect.gen(function*() {
      const { bulkhead, circuitBreaker, retry, timeout } = yield* makeParts
      const policy = Policy.stack({ bulkhead, retry, circuitBreaker, timeout })
      let attempts = 0
      const fiber = yield* Effect.fork(policy(Effect.suspend(() => {
        attempts++
        return attempts < 3 ? Effect.fail(new BrokerError()) : Effect.succeed("third time")
      })))
      yield* Effect.yieldNow()
      expect(attempts).toBe(1)
      expect(yield* bulkhead.stats).toMatchObject({ active: 1 })
      yield* TestClock.adjust("10 millis")
      expect(attempts).toBe(2)
      expect(yield* bulkhead.stats).toMatchObject({ active: 1 })
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(fiber)).toBe("third time")
      expect(yield* bulkhead.stats).toMatchObject({ active: 0 })
      expect(yield* circuitBreaker.snapshot).toMatchObject({ failures: 2, successes: 1 })
    }))

  it.effect("a caller interrupted by its own inner before the stack's mask begins gets its permit back", () =>
    Effect.gen(function*() {
      const { bulkhead, circuitBreaker, retry, timeout } = yield* makeParts
      const policy = Policy.stack({ bulkhead, retry, circuitBreaker, timeout })
      const innerInterrupted = yield* Deferred.make<void>()
      // The inner runs synchronously in the caller's step: it asks for the
      // caller's interruption, then suspends, so the caller is interrupted
      // before the mask that would install the release.
      const caller = yield* Effect.fork(
        Effect.withFiberRuntime((callerFiber: Fiber.RuntimeFiber<unknown, unknown>) =>
          policy(Effect.suspend(() => {
            callerFiber.unsafeInterruptAsFork(callerFiber.id())
            return Effect.onInterrupt(Effect.never, () => Deferred.succeed(innerInterrupted, undefined))
          }))
        )
      )
      const exit = yield* Fiber.await(caller)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* Deferred.await(innerInterrupted)
      expect(yield* bulkhead.stats).toMatchObject({ active: 0, waiting: 0 })
    }))

  it.effect("the inner sees the caller's context, FiberRefs and interruptibility", () =>
    Effect.gen(function*() {
      const { bulkhead, circuitBreaker, retry, timeout } = yield* makeParts
      const policy = Policy.stack({ bulkhead, retry, circuitBreaker, timeout })
      const ref = FiberRef.unsafeMake("default")
      const read = Effect.all([Greeting, FiberRef.get(ref), Effect.checkInterruptible(Effect.succeed)])
      const result = yield* policy(read).pipe(Effect.locally(ref, "caller"), Effect.provideService(Greeting, "hi"))
      expect(result).toEqual(["hi", "caller", true])
      const masked = yield* Effect.uninterruptible(policy(read)).pipe(
        Effect.locally(ref, "caller"),
        Effect.provideService(Greeting, "hi")
      )
      expect(masked).toEqual(["hi", "caller", false])
    }))
})
