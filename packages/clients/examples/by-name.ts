/**
 * Pick providers by name at run time (the seed's `get_broker_client` /
 * `get_market_data_client`), falling back to the simulator when a real
 * provider is not configured.
 */
import { BrokerClients, MarketDataClients } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Effect, Layer } from "effect"

const program = Effect.gen(function*() {
  const brokers = yield* BrokerClients.BrokerClients
  const markets = yield* MarketDataClients.MarketDataClients
  const broker = yield* brokers.get("interactive_brokers").pipe(
    Effect.catchTag("ProviderNotConfiguredError", () => brokers.get("simulated"))
  )
  const data = yield* markets.get("alpha_vantage").pipe(
    Effect.catchTag("ProviderNotConfiguredError", () => markets.get("simulated"))
  )
  const bars = yield* data.bars("EURUSD", "1h", { limit: 24 })
  yield* Effect.log(`${broker.provider}: ${bars.length} EURUSD 1h bars from ${data.provider}`)
  yield* Effect.log(`policy: ${JSON.stringify(data.policy.rateLimit?.source ?? "no quota")}`)
})

program.pipe(
  Effect.provide(
    Layer.mergeAll(BrokerClients.layerDefault, MarketDataClients.layerDefault).pipe(
      Layer.provide(FetchHttpClient.layer)
    )
  ),
  Effect.runPromise
)
