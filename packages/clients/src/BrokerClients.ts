/**
 * Broker clients by provider name: `"alpaca"`, `"interactive_brokers"`,
 * `"simulated"` (the seed's `get_broker_client(broker_name=…)`).
 *
 * Reach for it when the provider is chosen at run time (a request parameter,
 * a config value). Each provider's layer is built on first use and kept for
 * the registry's lifetime; a name this package does not know fails with
 * `UnknownProviderError`, a known provider without a layer or whose layer
 * cannot be built (missing keys) with `ProviderNotConfiguredError`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Alpaca from "./Alpaca.js"
import type { Service as BrokerClientService } from "./BrokerClient.js"
import { BrokerClient, brokerNames } from "./BrokerClient.js"
import type { ProviderNotConfiguredError, UnknownProviderError } from "./ClientError.js"
import * as InteractiveBrokers from "./InteractiveBrokers.js"
import { makeRegistry } from "./internal/registry.js"
import * as Simulated from "./Simulated.js"

/**
 * The registry: what the `BrokerClients` Tag provides (named `Registry` until
 * 0.2.0).
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Every name this registry can be asked for. */
  readonly known: ReadonlyArray<string>
  /** The names that have a layer (it may still fail to build). */
  readonly configured: ReadonlyArray<string>
  readonly get: (name: string) => Effect.Effect<BrokerClientService, UnknownProviderError | ProviderNotConfiguredError>
}

/**
 * The broker registry of this environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class BrokerClients extends Context.Tag("@effect-resilience/clients/BrokerClients")<BrokerClients, Service>() {}

/**
 * The former name of `Service`.
 *
 * @since 0.1.0
 * @category models
 * @deprecated use `BrokerClients.Service`
 */
export type Registry = Service

/**
 * A layer per provider name; leave a name out to leave it unconfigured.
 *
 * @since 0.1.0
 * @category models
 */
export type Providers<R> = { readonly [name: string]: Layer.Layer<BrokerClient, unknown, R> }

/**
 * A registry over the given provider layers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(providers: Providers<R>): Layer.Layer<BrokerClients, never, R> =>
  Layer.scoped(BrokerClients, makeRegistry(BrokerClient, brokerNames, providers))

/**
 * The default registry: Alpaca and IB from configuration (unconfigured when
 * their keys are missing) and the simulated broker (with its own fault
 * injector, without faults).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<BrokerClients, never, HttpClient.HttpClient> = layer({
  alpaca: Alpaca.layerConfig(),
  interactive_brokers: InteractiveBrokers.layerConfig(),
  simulated: Simulated.layerBroker().pipe(Layer.provide(Simulated.layerFaults()))
})

/**
 * The `BrokerClient` of one provider, taken from the registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const client = (
  name: string
): Layer.Layer<BrokerClient, UnknownProviderError | ProviderNotConfiguredError, BrokerClients> =>
  Layer.effect(BrokerClient, Effect.flatMap(BrokerClients, (registry) => registry.get(name)))
