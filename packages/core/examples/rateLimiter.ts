/**
 * Two rate limiters over one bounded in-memory store.
 *
 * - A server-side limiter in `fail` mode: 5 requests per second per API key
 *   (bursts of 10) and 20 per second for all keys together. Each decision
 *   carries what the `RateLimit` / `Retry-After` headers need; a rejected
 *   request fails with `RateLimitedError { key, policy, retryAfter, limit, remaining }`.
 * - A client-side limiter in `wait` mode for a market-data provider quota of
 *   5 calls per second: a burst of 8 quote requests is throttled (callers are
 *   served in arrival order) instead of being rejected.
 *
 * Run: `pnpm exec tsx packages/core/examples/rateLimiter.ts`
 */
import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import { Console, Duration, Effect } from "effect"

const server = Effect.gen(function*() {
  const limiter = yield* RateLimiter.make({
    name: "gateway-api",
    tokensPerSecond: 5,
    burstSize: 10,
    global: { tokensPerSecond: 20, burstSize: 40 }
  })
  for (let i = 1; i <= 12; i++) {
    const decision = yield* limiter.consume("api-key-alice")
    // times are Durations, exact to the millisecond; the headers round them up to whole seconds
    const headers = decision.allowed
      ? `RateLimit: limit=${decision.limit}, remaining=${decision.remaining}, reset=${
        Math.ceil(Duration.toSeconds(decision.resetAfter))
      }`
      : `429 Retry-After: ${Math.ceil(Duration.toSeconds(decision.retryAfter))} (exactly ${
        Duration.format(decision.retryAfter)
      })`
    yield* Console.log(`request ${i}: ${headers}`)
  }
  // The policy form: a rejected call fails with RateLimitedError.
  const placeOrder = Effect.succeed("order accepted")
  const result = yield* placeOrder.pipe(
    RateLimiter.withRateLimit(limiter, { key: "api-key-alice" }),
    Effect.catchTag(
      "RateLimitedError",
      (e) =>
        Effect.succeed(`rejected: retry after ${Duration.format(e.retryAfter)} (limit ${e.limit}, ${e.remaining} left)`)
    )
  )
  yield* Console.log(result)
  // Another key has its own bucket.
  yield* Console.log(`bob: ${yield* placeOrder.pipe(RateLimiter.withRateLimit(limiter, { key: "api-key-bob" }))}`)
  yield* Console.log("stats:", yield* limiter.stats)
})

const client = Effect.gen(function*() {
  const quota = yield* RateLimiter.make({
    name: "polygon",
    tokensPerSecond: 5,
    burstSize: 1,
    mode: "wait",
    maxWait: "5 seconds"
  })
  const start = Date.now()
  const fetchQuote = (symbol: string) =>
    Effect.sync(() => `${symbol} fetched at +${Date.now() - start} ms`).pipe(RateLimiter.withRateLimit(quota))
  const symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "SPY"]
  const quotes = yield* Effect.forEach(symbols, fetchQuote, { concurrency: "unbounded" })
  for (const line of quotes) yield* Console.log(line)
})

Effect.runPromise(
  Effect.zipRight(server, client).pipe(Effect.provide(RateLimiterStore.layerMemory({ maxKeys: 10_000 })))
).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
