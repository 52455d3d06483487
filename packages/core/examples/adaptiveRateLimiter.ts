/**
 * A client that learns a provider's undisclosed quota.
 *
 * The "provider" here is in-process: it allows 30 calls per fixed minute and
 * answers a 429 with `Retry-After` (the seconds to its window's end) beyond
 * that; it never says what its quota is. The client starts at its ceiling (5
 * calls a second, ten times too many), meets a few 429s, and settles just
 * under 30 a minute: the rate, the 429s and the calls served are printed
 * every 5 minutes of simulated time (the TestClock runs an hour in about a
 * second).
 *
 * Run: `pnpm exec tsx packages/core/examples/adaptiveRateLimiter.ts`
 */
import { AdaptiveRateLimiter } from "@effect-resilience/core"
import { Clock, Console, Effect, Fiber, Logger, LogLevel, TestClock, TestContext } from "effect"

interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
}

const makeProvider = (quotaPerMinute: number) => {
  let windowStart = -1
  let used = 0
  const counts = { served: 0, refused: 0 }
  const call = Effect.map(Clock.currentTimeMillis, (now): Answer => {
    const window = Math.floor(now / 60_000) * 60_000
    if (window !== windowStart) {
      windowStart = window
      used = 0
    }
    if (used < quotaPerMinute) {
      used++
      counts.served++
      return { status: 200, headers: {} }
    }
    counts.refused++
    return { status: 429, headers: { "retry-after": String(Math.ceil((window + 60_000 - now) / 1000)) } }
  })
  return { call, counts }
}

const program = Effect.gen(function*() {
  const provider = makeProvider(30)
  const limiter = yield* AdaptiveRateLimiter.make({ name: "provider", maxRate: 5 })
  // an HTTP answer's status and headers are the signal (429, Retry-After, RateLimit, X-RateLimit-*)
  const call = Effect.flatMap(
    provider.call,
    (answer) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.as(limiter.observe(AdaptiveRateLimiter.signalOf(answer.status, answer.headers, now)), answer)
      )
  )
  const workers = yield* Effect.forEach(
    [1, 2, 3, 4],
    () => Effect.fork(Effect.forever(Effect.zipRight(limiter.acquire, call)))
  )
  let served = 0
  let refused = 0
  for (let minute = 5; minute <= 60; minute += 5) {
    yield* TestClock.adjust("5 minutes")
    const rate = yield* limiter.rate
    yield* Console.log(
      `${String(minute).padStart(2)} min: rate ${(rate * 60).toFixed(1)}/min, ` +
        `served ${((provider.counts.served - served) / 5).toFixed(1)}/min, 429s ${provider.counts.refused - refused}`
    )
    served = provider.counts.served
    refused = provider.counts.refused
  }
  yield* Fiber.interruptAll(workers)
})

// the info line of each decrease is left out: the table says it all
Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.provide(TestContext.TestContext)))
