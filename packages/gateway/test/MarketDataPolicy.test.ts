import { UnknownSymbolError } from "@effect-resilience/clients/ClientError"
import type * as MarketDataClient from "@effect-resilience/clients/MarketDataClient"
import { Quote } from "@effect-resilience/clients/Models"
import { CircuitOpenError } from "@effect-resilience/core/ResilienceError"
import { GatewayConfig, MarketDataPolicy } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, TestClock } from "effect"

const quoteOf = (symbol: string, price: number) =>
  new Quote({ symbol, bid: price - 0.01, ask: price + 0.01, price, timestamp: new Date(0) })

/**
 * A market-data client whose n-th quote call (0-based) follows `plans[n]`:
 * it sleeps `latency` on the TestClock, then answers or fails. Counts calls
 * started and interrupted.
 */
const scriptedClient = (
  plans: ReadonlyArray<{ readonly latency: number; readonly result: Quote | MarketDataClient.MarketDataError }>
) => {
  const stats = { started: 0, interrupted: 0 }
  const client = {
    provider: "scripted",
    bars: () => Effect.succeed([]),
    latestQuote: (_symbol: string) =>
      Effect.suspend(() => {
        const plan = plans[stats.started++]!
        return Effect.sleep(Duration.millis(plan.latency)).pipe(
          Effect.zipRight(plan.result instanceof Quote ? Effect.succeed(plan.result) : Effect.fail(plan.result)),
          Effect.onInterrupt(() => Effect.sync(() => stats.interrupted++))
        )
      })
  } as unknown as MarketDataClient.Service
  return { client, stats }
}

const options = (patch: Partial<GatewayConfig.GatewayConfig["marketDataPolicy"]> = {}) => ({
  ...GatewayConfig.defaults.marketDataPolicy,
  hedgeDelay: Duration.millis(100),
  ...patch
})

const open = new CircuitOpenError({ breaker: "simulated.marketdata", state: "Open", retryAfter: Duration.seconds(5) })

describe("MarketDataPolicy", () => {
  it.effect("a slow quote is overtaken by the hedge, and the slow attempt is interrupted", () =>
    Effect.gen(function*() {
      const { client, stats } = scriptedClient([
        { latency: 10_000, result: quoteOf("AAPL", 100) },
        { latency: 10, result: quoteOf("AAPL", 101) }
      ])
      const policy = yield* MarketDataPolicy.make(client, options())
      const fiber = yield* Effect.fork(policy.quote("AAPL"))
      yield* TestClock.adjust("109 millis")
      expect(fiber.unsafePoll()).toBeNull()
      expect(stats.started).toBe(2)
      yield* TestClock.adjust("1 millis")
      const quote = yield* Fiber.join(fiber)
      expect(quote.price).toBe(101)
      expect(quote.stale).toBeUndefined()
      yield* Effect.yieldNow()
      expect(stats.interrupted).toBe(1)
    }))

  it.effect("no more attempts than maxHedgedAttempts + 1, and none when it is 0", () =>
    Effect.gen(function*() {
      const slow = { latency: 10_000, result: quoteOf("AAPL", 100) }
      const hedged = scriptedClient([slow, slow, slow, slow])
      const policy = yield* MarketDataPolicy.make(hedged.client, options({ maxHedgedAttempts: 2 }))
      const fiber = yield* Effect.fork(policy.quote("AAPL"))
      yield* TestClock.adjust("5 seconds")
      expect(hedged.stats.started).toBe(3)
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber)).price).toBe(100)

      const single = scriptedClient([slow, slow])
      const unhedged = yield* MarketDataPolicy.make(single.client, options({ maxHedgedAttempts: 0 }))
      const second = yield* Effect.fork(unhedged.quote("AAPL"))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(second)
      expect(single.stats.started).toBe(1)
    }))

  it.effect("with the breaker open, the last good quote is served marked stale within its age limit, then the typed error", () =>
    Effect.gen(function*() {
      const { client } = scriptedClient([
        { latency: 0, result: quoteOf("AAPL", 100) },
        { latency: 0, result: open },
        { latency: 0, result: open },
        { latency: 0, result: open }
      ])
      const policy = yield* MarketDataPolicy.make(
        client,
        options({ maxHedgedAttempts: 0, staleQuoteMaxAge: Duration.seconds(30) })
      )
      const fresh = yield* policy.quote("AAPL")
      expect(fresh.stale).toBeUndefined()
      yield* TestClock.adjust("30 seconds")
      const stale = yield* policy.quote("AAPL")
      expect(stale).toMatchObject({ symbol: "AAPL", price: 100, stale: true, ageMillis: 30_000 })
      // another symbol has no last good quote: the breaker's error, typed
      expect(yield* Effect.exit(policy.quote("MSFT"))).toEqual(Exit.fail(open))
      yield* TestClock.adjust("1 millis")
      expect(yield* Effect.exit(policy.quote("AAPL"))).toEqual(Exit.fail(open))
    }))

  it.effect("errors other than a failing provider pass through typed, with a last good quote at hand", () =>
    Effect.gen(function*() {
      const unknown = new UnknownSymbolError({ provider: "scripted", symbol: "AAPL" })
      const { client } = scriptedClient([
        { latency: 0, result: quoteOf("AAPL", 100) },
        { latency: 0, result: unknown }
      ])
      const policy = yield* MarketDataPolicy.make(client, options({ maxHedgedAttempts: 0 }))
      yield* policy.quote("AAPL")
      expect(yield* Effect.exit(policy.quote("AAPL"))).toEqual(Exit.fail(unknown))
    }))
})
