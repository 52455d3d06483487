/**
 * `Policy.withResilience`: the seeds' `@with_resilience(service_name,
 * operation_name, service_type)` as a pipeable policy. The profile of the
 * service type decides the breaker, retry, bulkhead and timeout; the same
 * service and operation always share one breaker and one bulkhead.
 *
 * Shown here:
 * - a promise-returning client (`Effect.tryPromise`) and a synchronous parser
 *   (`Effect.try`) protected the same way;
 * - the retry whitelist by error tag (the seeds' `exceptions=[…]`);
 * - resolving a stack at startup, so a misspelt service type fails there;
 * - per-service overrides in code (`Policy.layerFrom`), the same shape as
 *   `RESILIENCE_CONFIG_JSON`;
 * - handling the rejections by tag.
 *
 * Run: `pnpm exec tsx packages/core/examples/withResilience.ts`
 */
import { Policy } from "@effect-resilience/core"
import { Data, Duration, Effect } from "effect"

class ConnectionError extends Data.TaggedError("ConnectionError")<{ readonly cause: unknown }> {}
class MalformedResponse extends Data.TaggedError("MalformedResponse")<{ readonly cause: unknown }> {}

// a promise-based market-data client: the first request of each symbol drops its connection
const seen = new Set<string>()
const fetchBars = (symbol: string): Promise<string> =>
  new Promise((resolve, reject) =>
    setTimeout(() => {
      if (!seen.has(symbol)) {
        seen.add(symbol)
        reject(new Error("ECONNRESET"))
      } else resolve(JSON.stringify({ symbol, bars: [1.0841, 1.0843, 1.0842] }))
    }, 20)
  )

const getHistoricalData = (symbol: string) =>
  Effect.tryPromise({ try: () => fetchBars(symbol), catch: (cause) => new ConnectionError({ cause }) }).pipe(
    // a synchronous step, lifted with Effect.try: a parse failure is not worth a retry
    Effect.flatMap((body) =>
      Effect.try({
        try: () => JSON.parse(body) as { readonly bars: ReadonlyArray<number> },
        catch: (cause) => new MalformedResponse({ cause })
      })
    ),
    Policy.withResilience({
      service: "trading_gateway",
      operation: "get_historical_data",
      serviceType: "market_data",
      // only connection errors and timeouts are retried
      retryOn: ["ConnectionError", "TimeoutError"]
    })
  )

const program = Effect.gen(function*() {
  // resolve at startup: a misspelt service type fails here, not on the first call
  const stack = yield* Policy.resolve({
    service: "trading_gateway",
    operation: "get_historical_data",
    serviceType: "market_data"
  })
  console.log(
    `breaker ${stack.circuitBreaker.name}, bulkhead ${stack.bulkhead.name} (${stack.bulkhead.maxConcurrent} at once)`
  )

  // the retry absorbs the dropped connection
  const { bars } = yield* getHistoricalData("EURUSD")
  console.log(`EURUSD bars: ${bars.join(", ")}`)

  // rejections are typed: handle them by tag
  const quote = yield* getHistoricalData("GBPUSD").pipe(
    Effect.as("fresh data"),
    Effect.catchTags({
      CircuitOpenError: (e) =>
        Effect.succeed(`cached data (breaker open, retry after ${Duration.format(e.retryAfter)})`),
      BulkheadRejectedError: () => Effect.succeed("cached data (too busy)"),
      TimeoutError: () => Effect.succeed("cached data (slow provider)")
    })
  )
  console.log(`GBPUSD: ${quote}`)
})

// the market_data profile with a per-service override, as RESILIENCE_CONFIG_JSON could carry it
const config = Policy.layerFrom({
  serviceTypes: { market_data: { retry: { baseDelay: "50 millis", maxDelay: "500 millis" } } },
  services: { trading_gateway: { bulkhead: { maxConcurrent: 8 } } }
})

Effect.runPromise(program.pipe(Effect.provide(config))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
