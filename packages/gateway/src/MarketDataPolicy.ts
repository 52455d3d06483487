/**
 * The policies the gateway adds around its market-data client, on top of the
 * client's own stack (bulkhead, retry, breaker, timeout):
 *
 * - **a hedge** on quotes (core's `Hedge`): idempotent reads, so a slow one
 *   is raced by another attempt after `hedgeDelay` (a fixed delay or a
 *   percentile of recent quote latencies), at most `maxHedgedAttempts`
 *   besides the first. Bars are not hedged: a bars read is slow because it
 *   is large, so a percentile delay would hedge exactly the largest queries
 *   and compute their bars twice, the load issue 12 bounded. It sits
 *   outermost, `Hedge(Bulkhead(Retry(CircuitBreaker(Timeout(call)))))`: each
 *   attempt is a whole client call, with its own permit, breaker pass and
 *   timeout. Orders are never hedged (a hedged order is two orders).
 * - **a last-good-quote fallback** (core's `Fallback.lastGood`, per symbol)
 *   outside that: while the provider's breaker is open or the provider fails
 *   (`CircuitOpenError`, `BulkheadRejectedError`, `TimeoutError`,
 *   `ProviderUnavailableError`), the quote route answers the symbol's last
 *   good quote if it is at most `staleQuoteMaxAge` old, with `stale: true`
 *   and its `ageMillis`. Every other error (an unknown symbol, a provider
 *   quota, a bad answer), and any failure once the quote is too old, passes
 *   through typed.
 *
 * @since 0.2.0
 */
import type { MarketDataError, Service as MarketDataService } from "@effect-resilience/clients/MarketDataClient"
import type { Bar, BarsQuery, Quote, Timeframe } from "@effect-resilience/clients/Models"
import * as Fallback from "@effect-resilience/core/Fallback"
import * as Hedge from "@effect-resilience/core/Hedge"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { QuoteResponse } from "./Api.js"
import type { GatewayConfig } from "./GatewayConfig.js"

/**
 * The errors a stale quote answers for: the provider's breaker is open, its
 * bulkhead is full, or it failed (after retries) or timed out.
 *
 * @since 0.2.0
 * @category constants
 */
export const staleQuoteHandles = [
  "CircuitOpenError",
  "BulkheadRejectedError",
  "TimeoutError",
  "ProviderUnavailableError"
] as const

/**
 * The market-data routes' reads with their policies.
 *
 * @since 0.2.0
 * @category models
 */
export interface MarketDataPolicy {
  /** Bars, as the client answers them (not hedged: see the module's doc). */
  readonly bars: (
    symbol: string,
    timeframe: Timeframe,
    query?: BarsQuery | undefined
  ) => Effect.Effect<ReadonlyArray<Bar>, MarketDataError>
  /** The latest quote, hedged; the last good one (marked stale) when the provider fails. */
  readonly quote: (symbol: string) => Effect.Effect<QuoteResponse, MarketDataError>
}

const percentileInitial = Duration.millis(200)

const hedgeOf = (options: GatewayConfig["marketDataPolicy"], name: string) =>
  Hedge.make({
    delay: Duration.isDuration(options.hedgeDelay)
      ? options.hedgeDelay
      : { percentile: options.hedgeDelay.percentile, initial: percentileInitial },
    maxHedgedAttempts: options.maxHedgedAttempts,
    idempotent: true,
    name
  })

const toResponse = (quote: Quote): QuoteResponse => ({
  symbol: quote.symbol,
  bid: quote.bid,
  ask: quote.ask,
  price: quote.price,
  ...(quote.bidSize === undefined ? {} : { bidSize: quote.bidSize }),
  ...(quote.askSize === undefined ? {} : { askSize: quote.askSize }),
  timestamp: quote.timestamp
})

/**
 * Wraps a market-data client in the gateway's hedge and stale-quote
 * fallback. Fails with `InvalidOptionsError` for options out of range.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  client: MarketDataService,
  options: GatewayConfig["marketDataPolicy"]
): Effect.Effect<MarketDataPolicy, InvalidOptionsError> =>
  Effect.gen(function*() {
    const quoteHedge = yield* hedgeOf(options, "marketdata.quote")
    const lastQuote = yield* Fallback.lastGood<QuoteResponse>({
      name: "marketdata.quote",
      maxAge: options.staleQuoteMaxAge,
      handles: staleQuoteHandles,
      mark: (quote, age) => ({ ...quote, stale: true, ageMillis: Duration.toMillis(age) })
    })
    return {
      bars: (symbol, timeframe, query) => client.bars(symbol, timeframe, query),
      quote: (symbol) =>
        quoteHedge.execute(client.latestQuote(symbol)).pipe(
          Effect.map(toResponse),
          lastQuote.forKey(symbol)
        )
    }
  })
