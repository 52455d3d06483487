/**
 * Fault injection in a chaos drill: one `Ref` switches every injection.
 *
 * 1. Off (the default): every call reaches the provider.
 * 2. Switched on at run time: 30% of calls fail with `InjectedFaultError`
 *    and 20% are 1.5 s slow; the stack's retry absorbs the failures and its
 *    1 s timeout cuts the slow ones (timeouts are retried too here).
 * 3. Switched off again: back to normal.
 *
 * The seeded `Random` makes the run the same every time.
 *
 * Run: `pnpm exec tsx packages/core/examples/faultInjection.ts`
 */
import { FaultInjection, Policy, ResilienceError, Retry, Timeout } from "@effect-resilience/core"
import { Console, Effect, Random, Ref } from "effect"

const program = Effect.gen(function*() {
  let reached = 0
  const provider = Effect.sync(() => {
    reached++
    return "quote"
  })

  const chaos = yield* Ref.make(false)
  const failures = yield* FaultInjection.failure({ rate: 0.3, enabled: chaos, name: "provider-errors" })
  const slowness = yield* FaultInjection.latency({ rate: 0.2, latency: "1500 millis", enabled: chaos })
  const retried = new Map<string, number>()
  const retry = yield* Retry.constant("10 millis", {
    maxRetries: 5,
    onRetry: ({ error }) =>
      Effect.sync(() => retried.set(ResilienceError.tagOf(error), (retried.get(ResilienceError.tagOf(error)) ?? 0) + 1))
  })
  const timeout = yield* Timeout.make({ duration: "1 second" })
  const guarded = Policy.stack({ retry, timeout, faultInjection: failures })
  const call = provider.pipe(slowness.execute, guarded, Effect.either)

  const round = (label: string) =>
    Effect.gen(function*() {
      reached = 0
      retried.clear()
      const results = yield* Effect.forEach(Array.from({ length: 20 }), () => call, { concurrency: "unbounded" })
      const ok = results.filter((r) => r._tag === "Right").length
      const retries = [...retried].map(([tag, n]) => `${n} × ${tag}`).join(", ") || "none"
      yield* Console.log(`${label}: ${ok}/20 answered, provider reached ${reached} times, retries: ${retries}`)
    })

  yield* round("chaos off")
  yield* Ref.set(chaos, true)
  yield* round("chaos on ")
  yield* Ref.set(chaos, false)
  yield* round("chaos off")
})

Effect.runPromise(Effect.withRandom(program, Random.make("drill")))
