/**
 * What every provider module's `layer`, `config` and `layerConfig` share: the
 * raw API wrapped in the provider's policy (its defaults with
 * `options.policy` merged in) as a layer, and the same layer with its options
 * read from configuration. Each provider module keeps only what is its own:
 * its API, its default policy and its configuration keys. The layers are
 * scoped: the client's bulkheads and quota stay registered in `StatusSources`
 * (when present) while the layer lives.
 *
 * @internal
 */
import * as AdaptiveRateLimiter from "@effect-resilience/core/AdaptiveRateLimiter"
import { type InvalidOptionsError, RateLimitedError } from "@effect-resilience/core/ResilienceError"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type BrokerApi, BrokerClient } from "../BrokerClient.js"
import { ProviderRateLimitedError } from "../ClientError.js"
import { type MarketDataApi, MarketDataClient } from "../MarketDataClient.js"
import type * as ProviderPolicy from "../ProviderPolicy.js"
import { makeBrokerClient, makeMarketDataClient } from "./resilient.js"

/**
 * Runs one extra request of a call under the client's quota (a page after the
 * first): the provider's policy wraps a call once, and a call that sends more
 * than one request takes a token for each of the others through this.
 *
 * @internal
 */
export type Pace = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ProviderRateLimitedError, R>

/** @internal */
export const unpaced: Pace = (self) => self

/** @internal */
export interface PolicyOptions {
  readonly policy?: ProviderPolicy.Overrides | undefined
}

/** @internal */
export const broker = <O extends PolicyOptions>(
  makeApi: (options: O) => Effect.Effect<BrokerApi, InvalidOptionsError, HttpClient.HttpClient | Scope.Scope>,
  policy: ProviderPolicy.ProviderPolicy
) =>
(options: O): Layer.Layer<BrokerClient, InvalidOptionsError, HttpClient.HttpClient> =>
  Layer.scoped(
    BrokerClient,
    Effect.flatMap(makeApi(options), (api) => makeBrokerClient(api, policy, options.policy))
  )

/**
 * `makeApi` gets a `Pace` bound to the client's quota once the client exists
 * (the quota is built from the policy after the API), and an `HttpClient`
 * whose every response (status and headers: 429, `Retry-After`, `RateLimit`,
 * `X-RateLimit-*`) reaches the client's learned rate.
 *
 * @internal
 */
export const marketData = <O extends PolicyOptions>(
  makeApi: (
    options: O,
    pace: Pace
  ) => Effect.Effect<MarketDataApi, InvalidOptionsError, HttpClient.HttpClient | Scope.Scope>,
  policy: ProviderPolicy.ProviderPolicy
) =>
(options: O): Layer.Layer<MarketDataClient, InvalidOptionsError, HttpClient.HttpClient> =>
  Layer.scoped(
    MarketDataClient,
    Effect.gen(function*() {
      let quota: Pace = unpaced
      let learned: AdaptiveRateLimiter.AdaptiveRateLimiter | undefined
      const client = yield* HttpClient.HttpClient
      const observed = HttpClient.tap(client, (response) =>
        learned === undefined ? Effect.void : Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => learned!.observe(AdaptiveRateLimiter.signalOf(response.status, response.headers, now))
        ))
      const api = yield* Effect.provideService(
        makeApi(options, (self) => Effect.suspend(() => quota(self))),
        HttpClient.HttpClient,
        observed
      )
      return yield* makeMarketDataClient(api, policy, options.policy, (guard, adaptive) => {
        learned = adaptive
        // The quota refuses a page only when its wait would pass maxWait: a throttle, like the provider's own.
        quota = (self) =>
          guard(self).pipe(
            Effect.catchIf(
              (error): error is RateLimitedError => error instanceof RateLimitedError,
              (error) =>
                Effect.fail(
                  new ProviderRateLimitedError({
                    provider: policy.provider,
                    retryAfter: error.retryAfter,
                    reason: "the client's own quota"
                  })
                )
            )
          ) as Effect.Effect<never, never, never>
      })
    })
  )

/** `layer` with its options read from `config` and the policy overrides given in code. @internal */
export const layerConfig = <O extends PolicyOptions, I, E, R>(
  config: Config.Config<O>,
  layer: (options: O) => Layer.Layer<I, E, R>
) =>
(overrides?: ProviderPolicy.Overrides | undefined): Layer.Layer<I, E | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(Effect.map(config, (options) => layer({ ...options, policy: overrides })))

/** An optional string setting (`undefined` when unset). @internal */
export const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.string(name).pipe(Config.option, Config.map(Option.getOrUndefined))
