/**
 * A fleet-wide rate limit on Redis: 5 requests per second per client with a
 * burst of 10, and 100 per second for the whole API, shared by every process
 * that runs this code against the same Redis.
 *
 *   redis-server --port 6379 &
 *   RATE_LIMITER_REDIS_URL=redis://127.0.0.1:6379 pnpm exec tsx packages/redis/examples/redis.ts
 *
 * Without a Redis the store falls back to a local in-memory limiter (the
 * default `onError`) and logs one warning: the example still runs.
 */
import { RateLimiter } from "@effect-resilience/core"
import { RedisRateLimiterStore } from "@effect-resilience/redis"
import { Console, Duration, Effect, Layer } from "effect"

// Reads RATE_LIMITER_REDIS_URL / _PREFIX / _TIMEOUT / _ON_ERROR (all optional).
const Store = RedisRateLimiterStore.layerConfig()

const Limiter = RateLimiter.layer({
  name: "api",
  tokensPerSecond: 5,
  burstSize: 10,
  global: { tokensPerSecond: 100, burstSize: 200 }
}).pipe(Layer.provide(Store))

const handleRequest = (client: string, i: number) =>
  Console.log(`${client} #${i}: served`).pipe(
    RateLimiter.withRateLimit(client),
    Effect.catchTag("RateLimitedError", (e) =>
      Console.log(`${client} #${i}: 429, retry after ${Duration.toMillis(e.retryAfter)} ms`))
  )

const program = Effect.gen(function*() {
  const limiter = yield* RateLimiter.RateLimiter
  for (let i = 0; i < 12; i++) yield* handleRequest("client-a", i)
  // The decision carries everything an HTTP RateLimit header needs.
  const d = yield* limiter.check("client-a")
  yield* Console.log(
    `RateLimit: limit=${d.limit}, remaining=${d.remaining}, reset=${Math.ceil(Duration.toSeconds(d.resetAfter))}`
  )
})

program.pipe(Effect.provide(Limiter), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
