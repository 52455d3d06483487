/**
 * A multi-window quota, Alpha Vantage's free tier: 1 request per second, 5 per
 * minute and 25 per day, decided atomically in one limiter.
 *
 * The bucket spreads calls out (at most one per second); the windows cap the
 * counts per minute and per UTC day, aligned to the epoch as the provider
 * resets them. Driven by the TestClock, so 15 minutes pass at once: every
 * minute's first refusal is printed with the limit that bound it.
 *
 * Run: `pnpm exec tsx packages/core/examples/multiWindow.ts`
 */
import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import { Console, Duration, Effect, TestClock, TestContext } from "effect"

const program = Effect.gen(function*() {
  const limiter = yield* RateLimiter.make({
    name: "alpha_vantage",
    tokensPerSecond: 1,
    burstSize: 1,
    windows: [{ limit: 5, per: "1 minute" }, { limit: 25, per: "1 day" }]
  })
  let admitted = 0
  // one call every 2 seconds for 15 minutes: the bucket never refuses, the windows do
  for (let second = 0; second < 15 * 60; second += 2) {
    const decision = yield* limiter.consume()
    if (decision.allowed) admitted++
    const bound = decision.window === undefined ? "bucket" : `${Duration.format(decision.window)} window`
    if (!decision.allowed && second % 60 === 10) {
      yield* Console.log(
        `t=${second}s refused by the ${bound}: ${decision.remaining}/${decision.limit} left, ` +
          `retry in ${Duration.format(decision.retryAfter)}`
      )
    }
    yield* TestClock.adjust("2 seconds")
  }
  yield* Console.log(`admitted ${admitted} calls in 15 minutes (5 a minute until the day's 25 were spent)`)
}).pipe(Effect.provide(RateLimiterStore.layerMemory()), Effect.provide(TestContext.TestContext))

Effect.runPromise(program)
