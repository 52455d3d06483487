/**
 * What the policies record on spans, read back through the OpenTelemetry
 * SDK's in-memory span exporter behind `@effect/opentelemetry` (the bridge a
 * user installs): the `withResilience` span with the documented attributes,
 * one event per retry, a rejection, a timeout; and the same calls with no
 * tracer installed.
 */
import {
  AdaptiveBulkhead,
  AdaptiveLimit,
  Bulkhead,
  CircuitBreaker,
  Fallback,
  FaultInjection,
  Hedge,
  Observability,
  Policy,
  Timeout
} from "@effect-resilience/core"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Data, Effect, Fiber, Layer, TestClock } from "effect"

class ConnectionError extends Data.TaggedError("ConnectionError")<{}> {}

const A = Observability.SpanAttributes
const E = Observability.SpanEvents

// The SDK's in-memory exporter forgets its spans on shutdown, which the layer's scope runs when it closes (after
// flushing every pending export): these are read after that, so they are kept.
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** A tracer exporting to memory (read the spans once the layer's scope has closed), and the spans it got. */
const tracing = () => {
  const exporter = new KeptSpans()
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "observability-test" },
    spanProcessor: new SimpleSpanProcessor(exporter)
  }))
  return { layer, spans: (): ReadonlyArray<ReadableSpan> => exporter.getFinishedSpans() }
}

/** Fails `failures` times with ConnectionError, then succeeds. */
const flaky = (failures: number) => {
  let calls = 0
  return Effect.suspend(() => ++calls <= failures ? Effect.fail(new ConnectionError()) : Effect.succeed("filled"))
}

const options = (operation: string): Policy.WithResilienceOptions => ({
  service: "observability_test",
  operation,
  serviceType: "internal",
  span: true
})

// Runs `effect` while the TestClock moves on, so backoff sleeps end.
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 20; i++) yield* TestClock.adjust("5 seconds")
    return yield* Fiber.join(fiber)
  })

describe("Observability: spans", () => {
  it.effect("a withResilience call that retries twice and succeeds: one span, its attributes, two retry events", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const result = yield* withTime(flaky(2).pipe(Policy.withResilience(options("retry_twice")))).pipe(
        Effect.provide(Layer.merge(layer, Policy.layerDefault))
      )
      expect(result).toBe("filled")
      const ours = spans().filter((s) => s.name === "resilience observability_test/retry_twice")
      expect(ours).toHaveLength(1)
      const span = ours[0]!
      expect(span.attributes).toMatchObject({
        [A.policy]: "bulkhead,retry,circuit_breaker,timeout",
        [A.service]: "observability_test",
        [A.operation]: "retry_twice",
        [A.outcome]: "success"
      })
      const retries = span.events.filter((e) => e.name === E.retry)
      expect(retries.map((e) => e.attributes?.[A.retryAttempt])).toEqual([1, 2])
      for (const event of retries) {
        expect(event.attributes?.[A.errorType]).toBe("ConnectionError")
        expect(event.attributes?.[A.retryDelayMs]).toBeGreaterThanOrEqual(0)
      }
      expect(span.events.filter((e) => e.name === E.retryGiveUp)).toHaveLength(0)
    }))

  it.effect("a rejected call shows the rejection: an event with the breaker's state, outcome rejected", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const exit = yield* Effect.gen(function*() {
        const stack = yield* Policy.resolve(options("rejected"))
        yield* stack.circuitBreaker.isolate
        return yield* Effect.exit(Effect.succeed("never sent").pipe(Policy.withResilience(options("rejected"))))
      }).pipe(Effect.provide(Layer.merge(layer, Policy.layerDefault)))
      expect(exit._tag).toBe("Failure")
      const span = spans().find((s) => s.name === "resilience observability_test/rejected")!
      expect(span.attributes).toMatchObject({ [A.outcome]: "rejected", [A.errorType]: "CircuitOpenError" })
      const rejected = span.events.filter((e) => e.name === E.breakerRejected)
      expect(rejected).toHaveLength(1)
      expect(rejected[0]!.attributes).toMatchObject({
        [A.breakerName]: "observability_test/rejected",
        [A.breakerState]: "Isolated"
      })
    }))

  it.effect("the call that trips a breaker records the state change; a bulkhead's rejection is recorded too", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const breaker = yield* CircuitBreaker.make({
        service: "observability_test",
        resource: "trip",
        failureThreshold: 1
      })
      const bulkhead = yield* Bulkhead.make({ name: "observability_test/full", maxConcurrent: 1, maxWaiting: 0 })
      yield* Effect.gen(function*() {
        yield* Effect.exit(breaker.execute(Effect.fail(new ConnectionError())).pipe(Effect.withSpan("tripping")))
        const holder = yield* Effect.fork(bulkhead.execute(Effect.never))
        yield* Effect.yieldNow()
        yield* Effect.exit(bulkhead.execute(Effect.void).pipe(Effect.withSpan("shed")))
        yield* Fiber.interrupt(holder)
      }).pipe(Effect.provide(layer))
      const tripping = spans().find((s) => s.name === "tripping")!
      expect(tripping.events.filter((e) => e.name === E.breakerStateChange).map((e) => e.attributes)).toEqual([
        { [A.breakerName]: "observability_test/trip", [A.breakerFrom]: "Closed", [A.breakerTo]: "Open" }
      ])
      const shed = spans().find((s) => s.name === "shed")!
      expect(shed.events.filter((e) => e.name === E.bulkheadRejected).map((e) => e.attributes)).toEqual([
        { [A.bulkheadName]: "observability_test/full", [A.bulkheadReason]: "full" }
      ])
    }))

  it.effect("an adaptive bulkhead records a limit change of 10% or more on the span of the call that caused it", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const bulkhead = yield* AdaptiveBulkhead.make({
        name: "observability_test/adaptive",
        algorithm: AdaptiveLimit.aimd({ backoffRatio: 0.5 }),
        minLimit: 1,
        initialLimit: 40,
        window: false
      })
      const timeout = yield* Timeout.make({ duration: "5 millis" })
      const fiber = yield* Effect.fork(
        Effect.exit(bulkhead.execute(timeout.execute(Effect.never))).pipe(
          Effect.withSpan("dropped"),
          Effect.provide(layer)
        )
      )
      yield* TestClock.adjust("5 millis")
      yield* Fiber.join(fiber)
      // a drop halves it: 40 → 20
      const dropped = spans().find((s) => s.name === "dropped")!
      expect(dropped.events.filter((e) => e.name === E.bulkheadLimitChanged).map((e) => e.attributes)).toEqual([
        {
          [A.bulkheadName]: "observability_test/adaptive",
          [A.bulkheadAlgorithm]: "AIMD",
          [A.bulkheadPreviousLimit]: 40,
          [A.bulkheadLimit]: 20
        }
      ])
    }))

  it.effect("a timeout is recorded on the caller's span with its duration", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const timeout = yield* Timeout.make({ duration: "1 second", operation: "slow_quote" })
      const fiber = yield* Effect.fork(
        timeout.execute(Effect.never).pipe(Effect.withSpan("caller"), Effect.exit, Effect.provide(layer))
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.join(fiber)
      expect(exit._tag).toBe("Failure")
      const caller = spans().find((s) => s.name === "caller")!
      const events = caller.events.filter((e) => e.name === E.timeout)
      expect(events.map((e) => e.attributes)).toEqual([{ [A.operation]: "slow_quote", [A.timeoutMs]: 1000 }])
    }))

  it.effect("hedge, fallback and fault injection record their decisions on the caller's span", () =>
    Effect.gen(function*() {
      const { layer, spans } = tracing()
      const hedge = yield* Hedge.make({ delay: "100 millis", idempotent: true, name: "quotes_hedge" })
      const lastGood = yield* Fallback.lastGood<string>({ maxAge: "1 minute", name: "quotes_last_good" })
      const latency = yield* FaultInjection.latency({
        rate: 1,
        latency: "10 millis",
        enabled: true,
        name: "quotes_chaos"
      })
      let attempt = 0
      // the primary hangs, the hedge answers 20 ms after it starts
      const slowThenFast = Effect.suspend(() =>
        attempt++ === 0 ? Effect.never : Effect.as(Effect.sleep("20 millis"), "b")
      )
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          yield* hedge.execute(Effect.succeed("at once")).pipe(Effect.withSpan("hedge_fast"))
          yield* hedge.execute(slowThenFast).pipe(Effect.withSpan("hedged"))
          yield* lastGood.execute(Effect.succeed("remembered"))
          yield* Effect.sleep("3 seconds")
          yield* lastGood.execute(Effect.fail(new ConnectionError())).pipe(Effect.withSpan("stale"))
          yield* latency.execute(Effect.void).pipe(Effect.withSpan("chaos"))
        }).pipe(Effect.provide(layer))
      )
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const span = (name: string) => spans().find((s) => s.name === name)!
      const events = (name: string) => span(name).events.map((e) => ({ name: e.name, attributes: e.attributes }))

      expect(events("hedge_fast")).toEqual([])
      expect(events("hedged")).toEqual([
        {
          name: E.hedgeAttemptStarted,
          attributes: {
            [A.hedgeName]: "quotes_hedge",
            [A.hedgeAttempt]: 1,
            [A.hedgeDelayMs]: 100,
            [A.hedgeTrigger]: "delay"
          }
        },
        {
          name: E.hedgeSettled,
          attributes: { [A.hedgeName]: "quotes_hedge", [A.hedgeWinner]: "hedge", [A.hedgeAttempt]: 1 }
        }
      ])
      expect(events("stale")).toEqual([{
        name: E.fallback,
        attributes: {
          [A.fallbackName]: "quotes_last_good",
          [A.fallbackOutcome]: "stale",
          [A.errorType]: "ConnectionError",
          [A.fallbackAgeMs]: 3000
        }
      }])
      expect(events("chaos")).toEqual([{
        name: E.faultInjected,
        attributes: { [A.faultInjectionName]: "quotes_chaos", [A.faultInjectionKind]: "latency" }
      }])
    }))

  it.effect("with no tracer installed the same calls work and record nothing", () =>
    Effect.gen(function*() {
      const { spans } = tracing()
      const result = yield* withTime(flaky(2).pipe(Policy.withResilience(options("no_tracer")))).pipe(
        Effect.provide(Policy.layerDefault)
      )
      expect(result).toBe("filled")
      expect(spans()).toHaveLength(0)
    }))
})

describe("Observability: the metric table", () => {
  it("every family carries the scheme's labels first, counters end in _total, under one prefix", () => {
    expect(Observability.metrics.length).toBeGreaterThanOrEqual(17)
    for (const family of Observability.metrics) {
      expect(family.name.startsWith(Observability.prefix)).toBe(true)
      expect(family.labels.slice(0, 3)).toEqual(["policy", "service", "operation"])
      expect(family.name.endsWith("_total")).toBe(family.type === "counter")
      expect(family.description.length).toBeGreaterThan(0)
    }
  })

  it("hedge, fallback and fault injection families are in the table with their decision labels", () => {
    const labelsOf = (name: string) => Observability.metrics.find((f) => f.name === name)?.labels
    const scheme = ["policy", "service", "operation"]
    expect(labelsOf("resilience_hedge_attempts_total")).toEqual(scheme)
    expect(labelsOf("resilience_hedge_wins_total")).toEqual([...scheme, "outcome"])
    expect(labelsOf("resilience_fallbacks_total")).toEqual([...scheme, "outcome"])
    expect(labelsOf("resilience_fault_injections_total")).toEqual([...scheme, "reason"])
  })
})
