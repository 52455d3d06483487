/**
 * Retry around a flaky market-data provider, with a retry budget shared by
 * the service's operations.
 *
 * The same `Retry` wraps a promise-returning function (lifted with
 * `Effect.tryPromise`) and a synchronous one (lifted with `Effect.try`). The
 * provider fails its first two requests with a connection error, then
 * answers one request with a 429 carrying `Retry-After: 1 s` (honoured: the
 * retry waits at least that long), then succeeds. A validation error is not
 * in the retryable list, so it fails at once. Each retry prints one
 * structured log line (service, operation, attempt, delayMillis, errorTag).
 * Last, `Retry.schedule` gives the same strategy as a plain `Schedule` for
 * `Effect.retry`.
 *
 * Run: `pnpm exec tsx packages/core/examples/retry.ts`
 */
import { Retry, RetryBudget } from "@effect-resilience/core"
import { Console, Data, Duration, Effect } from "effect"

class ConnectionError extends Data.TaggedError("ConnectionError")<{ readonly cause: unknown }> {}
class TooManyRequests extends Data.TaggedError("TooManyRequests")<{ readonly retryAfter: Duration.Duration }> {}
class ValidationError extends Data.TaggedError("ValidationError")<{ readonly message: string }> {}

// -- the simulated provider: a promise API ----------------------------------
let requests = 0
const fetchQuote = (symbol: string): Promise<number> => {
  requests++
  if (requests <= 2) return Promise.reject(new Error("ECONNRESET"))
  if (requests === 3) return Promise.reject({ status: 429, retryAfterSeconds: 1 })
  return Promise.resolve(symbol === "AAPL" ? 189.5 : 42)
}

// -- a synchronous parser that fails while a cache file is being rewritten --
let parses = 0
const parseCachedBars = (raw: string): ReadonlyArray<number> => {
  parses++
  if (parses === 1) throw new Error("EBUSY: cache file is being rewritten")
  return raw.split(",").map(Number)
}

const program = Effect.gen(function*() {
  const budget = yield* RetryBudget.make({ ratio: 0.2, minRetriesPerSecond: 10 })
  const retry = yield* Retry.exponential({
    service: "market_data",
    operation: "quote",
    maxRetries: 5,
    baseDelay: "200 millis",
    maxDelay: "10 seconds",
    jitter: "full",
    retryOn: ["ConnectionError", "TooManyRequests"],
    budget
  })

  // Promise-returning function: Effect.tryPromise, mapping the rejection to a typed error.
  const quote = (symbol: string) =>
    Effect.tryPromise({
      try: () => fetchQuote(symbol),
      catch: (cause) =>
        typeof cause === "object" && cause !== null && "status" in cause && cause.status === 429
          ? new TooManyRequests({ retryAfter: Duration.seconds(1) })
          : new ConnectionError({ cause })
    })
  const started = Date.now()
  const price = yield* retry.execute(quote("AAPL"))
  yield* Console.log(`AAPL = ${price} after ${requests} requests, ${Date.now() - started} ms`)

  // Synchronous function: Effect.try, same Retry.
  const bars = yield* Effect.try({
    try: () => parseCachedBars("1,2,3"),
    catch: (cause) => new ConnectionError({ cause })
  }).pipe(Retry.withRetry(retry))
  yield* Console.log(`bars = ${bars.join(" ")} after ${parses} parses`)

  // Not retryable: fails at once with the original error.
  const invalid = yield* Effect.flip(retry.execute(Effect.fail(new ValidationError({ message: "bad symbol" }))))
  yield* Console.log(`not retried: ${invalid._tag}`)
  yield* Console.log("budget:", yield* budget.snapshot)

  // The same strategy as a plain Effect Schedule, for Effect.retry (no budget, logs or metrics):
  // the same delays, the same retryOn, the same Retry-After rule.
  const schedule = yield* Retry.schedule({ maxRetries: 5, baseDelay: "200 millis", retryOn: ["ConnectionError"] })
  requests = 0
  const again = yield* Effect.retry(quote("MSFT"), schedule).pipe(
    Effect.catchTag("TooManyRequests", () => Effect.succeed("not retried: TooManyRequests is not in retryOn"))
  )
  yield* Console.log(`MSFT = ${again} after ${requests} requests`)
})

Effect.runPromise(program)
