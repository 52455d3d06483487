/**
 * Our policies as the benchmarks call them (section 1 and policyCpu.ts): each
 * alone with the options the bench table states, the four stacked, composed
 * and through `withResilience` (its stack resolved once before timing); the
 * hedge, fallback and fault injection alone; the adaptive bulkhead beside the
 * fixed one.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as AdaptiveBulkhead from "../../packages/core/src/AdaptiveBulkhead.js"
import * as AdaptiveLimit from "../../packages/core/src/AdaptiveLimit.js"
import * as AdaptiveRateLimiter from "../../packages/core/src/AdaptiveRateLimiter.js"
import * as Bulkhead from "../../packages/core/src/Bulkhead.js"
import * as CircuitBreaker from "../../packages/core/src/CircuitBreaker.js"
import * as Fallback from "../../packages/core/src/Fallback.js"
import * as FaultInjection from "../../packages/core/src/FaultInjection.js"
import * as Hedge from "../../packages/core/src/Hedge.js"
import * as Policy from "../../packages/core/src/Policy.js"
import * as RateLimiter from "../../packages/core/src/RateLimiter.js"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import * as Retry from "../../packages/core/src/Retry.js"
import * as Timeout from "../../packages/core/src/Timeout.js"

export const makePolicies = async () => {
  const resilience = ManagedRuntime.make(Policy.layerDefault)
  const runDefault = (effect: Effect.Effect<void, unknown>) => Effect.runPromise(effect)
  const runResilience = (effect: Effect.Effect<void, unknown, Policy.Resilience>) => resilience.runPromise(effect)
  // A tracer installed as a service would install it: the OTel SDK through @effect/opentelemetry, spans batched to
  // an exporter that drops them (what is measured is the process's side, not a collector's).
  const dropSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() }
  const traced = ManagedRuntime.make(
    Layer.merge(
      Policy.layerDefault,
      NodeSdk.layer(() => ({ resource: { serviceName: "bench" }, spanProcessor: new BatchSpanProcessor(dropSpans) }))
    )
  )
  const runTraced = (effect: Effect.Effect<void, unknown, Policy.Resilience>) => traced.runPromise(effect)
  const breaker = await Effect.runPromise(CircuitBreaker.make({ service: "bench", resource: "op" }))
  const retry = await Effect.runPromise(Retry.exponential({}))
  const bulkhead = await Effect.runPromise(Bulkhead.make({ name: "bench", maxConcurrent: 10 }))
  const timeout = await Effect.runPromise(Timeout.make({ duration: "10 seconds" }))
  // issue 19: the adaptive bulkhead at the fixed one's size, sampling by window (default) and per call
  const adaptive = await Effect.runPromise(
    AdaptiveBulkhead.make({ name: "bench-adaptive", algorithm: AdaptiveLimit.vegas(), initialLimit: 10 })
  )
  const adaptivePerCall = await Effect.runPromise(
    AdaptiveBulkhead.make({
      name: "bench-adaptive-per-call",
      algorithm: AdaptiveLimit.gradient2(),
      minLimit: 1,
      initialLimit: 10,
      window: false
    })
  )
  // issue 18's policies, on their success path
  const fallback = await Effect.runPromise(Fallback.value(0))
  const lastGood = await Effect.runPromise(Fallback.lastGood<unknown>({ maxAge: "1 minute" }))
  const faultOff = await Effect.runPromise(FaultInjection.failure({ rate: 0.5 }))
  const faultOnRate0 = await Effect.runPromise(FaultInjection.failure({ rate: 0, enabled: true }))
  const hedge = await Effect.runPromise(Hedge.make({ delay: "1 second", idempotent: true }))
  // issue 19's learned quota beside the fixed limiter, at rates no call waits for (the success path)
  const limiterOf = (mode: RateLimiter.Mode) =>
    Effect.runPromise(
      Effect.provide(
        RateLimiter.make({ name: `bench-${mode}`, tokensPerSecond: 1e9, mode }),
        RateLimiterStore.layerMemory()
      )
    )
  const rateLimiterFail = await limiterOf("fail")
  const rateLimiterWait = await limiterOf("wait")
  const adaptiveRate = await Effect.runPromise(AdaptiveRateLimiter.make({ name: "bench", maxRate: 1e9 }))
  const options = { service: "bench", operation: "op" }
  const resilient = Policy.withResilience(options)
  const resilientSpan = Policy.withResilience({ ...options, span: true })
  // the first call builds the stack: not part of any timed round
  await runResilience(resilient(Effect.void))
  await runTraced(resilient(Effect.void))
  return {
    runDefault,
    runResilience,
    runTraced,
    breaker,
    retry,
    bulkhead,
    adaptive,
    adaptivePerCall,
    timeout,
    fallback,
    lastGood,
    faultOff,
    faultOnRate0,
    hedge,
    rateLimiterFail,
    rateLimiterWait,
    adaptiveRate,
    stacked: Policy.stack({ bulkhead, retry, circuitBreaker: breaker, timeout }),
    composed: Policy.compose(bulkhead.execute, retry.execute, breaker.execute, timeout.execute),
    options,
    resilient,
    resilientSpan,
    dispose: () => Promise.all([resilience.dispose(), traced.dispose()])
  }
}
