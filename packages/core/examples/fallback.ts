/**
 * Fallback outside the stack: a quote service whose provider goes down.
 *
 * 1. While the provider answers, each quote is remembered (per symbol).
 * 2. An unknown symbol is not a provider failure: it is not handled, and its
 *    typed error reaches the caller.
 * 3. The provider fails: its breaker opens after a few failures; the last
 *    good quote is served, marked stale, for up to 1 minute.
 *
 * Run: `pnpm exec tsx packages/core/examples/fallback.ts`
 */
import { CircuitBreaker, Fallback, Policy, Timeout } from "@effect-resilience/core"
import { Console, Effect, Schema } from "effect"

class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}
class UnknownSymbol extends Schema.TaggedError<UnknownSymbol>()("UnknownSymbol", { symbol: Schema.String }) {}

interface Quote {
  readonly symbol: string
  readonly price: number
  readonly stale?: boolean
}

let providerUp = true
const fetchQuote = (symbol: string): Effect.Effect<Quote, ProviderDown | UnknownSymbol> =>
  symbol === "NOPE"
    ? Effect.fail(new UnknownSymbol({ symbol }))
    : providerUp
    ? Effect.succeed({ symbol, price: 189.5 })
    : Effect.fail(new ProviderDown())

const program = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({
    service: "market_data",
    resource: "quotes",
    failureThreshold: 3,
    isFailure: (error) => !(error instanceof UnknownSymbol)
  })
  const timeout = yield* Timeout.make({ duration: "2 seconds" })
  const guarded = Policy.stack({ circuitBreaker: breaker, timeout })
  const lastQuote = yield* Fallback.lastGood<Quote>({
    maxAge: "1 minute",
    handles: ["ProviderDown", "CircuitOpenError", "TimeoutError"],
    mark: (quote) => ({ ...quote, stale: true })
  })
  // the fallback stands outside the stack: the breaker still sees every failure
  const quote = (symbol: string) => fetchQuote(symbol).pipe(guarded, lastQuote.forKey(symbol))

  yield* Console.log("provider up:", yield* quote("AAPL"))
  const unknown = yield* Effect.either(quote("NOPE"))
  yield* Console.log("unknown symbol:", unknown._tag === "Left" ? unknown.left._tag : unknown.right)
  providerUp = false
  for (let i = 0; i < 5; i++) {
    const served = yield* quote("AAPL")
    const state = (yield* breaker.snapshot).state
    yield* Console.log(`provider down, call ${i + 1} (breaker ${state}):`, served)
  }
})

Effect.runPromise(program)
