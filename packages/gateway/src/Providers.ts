/**
 * The gateway's broker and market-data clients, chosen by configuration:
 * the simulated providers by default (each with its own fault injector, so a
 * broker outage leaves market data alone), or Alpaca / Interactive Brokers
 * and Polygon / Yahoo / FRED / Alpha Vantage from their environment
 * variables.
 *
 * The simulated providers get demo timings (short timeouts and reset
 * timeouts, see `simulatedPolicies`) so that a breaker visibly opens and
 * recovers within seconds; real providers keep their profiles.
 *
 * @since 0.1.0
 */
import * as Alpaca from "@effect-resilience/clients/Alpaca"
import * as AlphaVantage from "@effect-resilience/clients/AlphaVantage"
import type { BrokerClient } from "@effect-resilience/clients/BrokerClient"
import * as Fred from "@effect-resilience/clients/Fred"
import * as InteractiveBrokers from "@effect-resilience/clients/InteractiveBrokers"
import type { MarketDataClient } from "@effect-resilience/clients/MarketDataClient"
import * as Polygon from "@effect-resilience/clients/Polygon"
import type * as ProviderPolicy from "@effect-resilience/clients/ProviderPolicy"
import * as Simulated from "@effect-resilience/clients/Simulated"
import * as Yahoo from "@effect-resilience/clients/Yahoo"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { GatewayConfig } from "./GatewayConfig.js"

/**
 * The simulated providers' fault injectors and book (absent for a real
 * provider).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly brokerName: string
  readonly marketDataName: string
  readonly broker: Option.Option<Simulated.FaultInjector>
  readonly marketData: Option.Option<Simulated.FaultInjector>
  readonly book: Option.Option<Simulated.BrokerState>
  readonly marketDataStats: Option.Option<Simulated.MarketDataState>
}

/**
 * The simulation controls of this environment (the admin routes' faults).
 *
 * @since 0.1.0
 * @category tags
 */
export class FaultControl
  extends Context.Tag("@effect-resilience/gateway/Providers/FaultControl")<FaultControl, Service>()
{}

/**
 * The demo timings of the simulated providers: breakers that trip after a
 * few failed attempts and stay open `resetTimeout`, two quick retries,
 * per-attempt `timeout` (orders 2×), bulkheads on every group.
 *
 * @since 0.1.0
 * @category policy
 */
export const simulatedPolicies = (config: GatewayConfig["simulated"]): {
  readonly broker: ProviderPolicy.Overrides
  readonly marketData: ProviderPolicy.Overrides
} => {
  const retry = {
    maxRetries: 2,
    baseDelay: Duration.millis(100),
    maxDelay: Duration.millis(800),
    factor: 2,
    jitter: "full" as const
  }
  return {
    broker: {
      requests: {
        breaker: { failureThreshold: 5, resetTimeout: config.resetTimeout },
        retry,
        bulkhead: { maxConcurrent: 10, maxWaiting: 20 },
        timeout: config.timeout
      },
      orders: {
        breaker: { failureThreshold: 3, resetTimeout: config.resetTimeout },
        retry,
        bulkhead: { maxConcurrent: 5, maxWaiting: 10 },
        timeout: Duration.times(config.timeout, 2)
      }
    },
    marketData: {
      requests: {
        breaker: { failureThreshold: 5, resetTimeout: config.resetTimeout },
        retry,
        bulkhead: { maxConcurrent: 20, maxWaiting: 40 },
        timeout: config.timeout
      }
    }
  }
}

type ProviderLayerError = InvalidOptionsError | ConfigError.ConfigError

const brokerLayer = (
  config: GatewayConfig,
  faults: Simulated.FaultInjector
): Layer.Layer<BrokerClient, ProviderLayerError, HttpClient.HttpClient> => {
  switch (config.broker) {
    case "simulated":
      return Simulated.layerBroker({
        seed: config.simulated.seed,
        policy: simulatedPolicies(config.simulated).broker
      }).pipe(Layer.provide(Layer.succeed(Simulated.SimulatedFaults, faults)))
    case "alpaca":
      return Alpaca.layerConfig()
    case "interactive_brokers":
      return InteractiveBrokers.layerConfig()
  }
}

const marketDataLayer = (
  config: GatewayConfig,
  faults: Simulated.FaultInjector
): Layer.Layer<MarketDataClient, ProviderLayerError, HttpClient.HttpClient> => {
  switch (config.marketData) {
    case "simulated":
      return Simulated.layerMarketData({
        seed: config.simulated.seed + 1,
        policy: simulatedPolicies(config.simulated).marketData
      }).pipe(Layer.provide(Layer.succeed(Simulated.SimulatedFaults, faults)))
    case "polygon":
      return Polygon.layerConfig()
    case "yahoo":
      return Yahoo.layer()
    case "fred":
      return Fred.layerConfig()
    case "alpha_vantage":
      // intraday FX on a free key from Yahoo (AlphaVantage.needsFallback)
      return AlphaVantage.layerConfigWithFallback()
  }
}

/**
 * `BrokerClient`, `MarketDataClient` and `FaultControl` for a configuration.
 * Put a `CircuitBreakerRegistry` (so the breakers show on the status page), a
 * `RateLimiterStore` (so provider quotas use it) and a `ResilienceConfig`
 * below it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: GatewayConfig
): Layer.Layer<BrokerClient | MarketDataClient | FaultControl, ProviderLayerError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const brokerFaults = yield* Simulated.makeFaults()
    const marketDataFaults = yield* Simulated.makeFaults()
    const clients = Layer.merge(
      brokerLayer(config, brokerFaults),
      marketDataLayer(config, marketDataFaults)
    ).pipe(Layer.provide(NodeHttpClient.layer))
    const control = Layer.effect(
      FaultControl,
      Effect.map(
        Effect.all([
          Effect.serviceOption(Simulated.SimulatedBroker),
          Effect.serviceOption(Simulated.SimulatedMarketData)
        ]),
        ([book, marketDataStats]): Service => ({
          brokerName: config.broker,
          marketDataName: config.marketData,
          broker: config.broker === "simulated" ? Option.some(brokerFaults) : Option.none(),
          marketData: config.marketData === "simulated" ? Option.some(marketDataFaults) : Option.none(),
          book,
          marketDataStats
        })
      )
    )
    return Layer.provideMerge(control, clients)
  }))
