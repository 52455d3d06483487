import { ResilienceConfig } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, FastCheck } from "effect"

const fromEnv = (env: Record<string, string>) =>
  ResilienceConfig.load().pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

const loadError = (env: Record<string, string>) => Effect.flip(fromEnv(env))

describe("ResilienceConfig", () => {
  it.effect("the default layer holds the trading gateway's tables", () =>
    Effect.gen(function*() {
      const settings = yield* ResilienceConfig.ResilienceConfig.pipe(Effect.provide(ResilienceConfig.layerDefault))
      const broker = settings.serviceTypes["broker_api"]!
      expect(broker.breaker.failureThreshold).toBe(5)
      expect(Duration.toSeconds(broker.breaker.resetTimeout)).toBe(60)
      expect(broker.retry).toMatchObject({ maxRetries: 3, factor: 2, jitter: "full" })
      expect(Duration.toSeconds(broker.retry.baseDelay)).toBe(1)
      expect(Duration.toSeconds(broker.retry.maxDelay)).toBe(30)
      expect(broker.bulkhead).toMatchObject({ maxConcurrent: 10, maxWaiting: 20 })
      expect(Duration.toSeconds(broker.timeout)).toBe(10)

      const market = settings.serviceTypes["market_data"]!
      expect(market.breaker.failureThreshold).toBe(3)
      expect(Duration.toSeconds(market.breaker.resetTimeout)).toBe(30)
      expect(market.retry).toMatchObject({ maxRetries: 5, factor: 2, jitter: "full" })
      expect(Duration.toMillis(market.retry.baseDelay)).toBe(500)
      expect(Duration.toSeconds(market.retry.maxDelay)).toBe(10)
      expect(market.bulkhead).toMatchObject({ maxConcurrent: 20, maxWaiting: 50 })
      expect(Duration.toSeconds(market.timeout)).toBe(5)

      const orders = settings.serviceTypes["order_execution"]!
      expect(orders.breaker.failureThreshold).toBe(3)
      expect(Duration.toSeconds(orders.breaker.resetTimeout)).toBe(120)
      expect(orders.bulkhead).toMatchObject({ maxConcurrent: 5, maxWaiting: 10 })
      expect(Duration.toSeconds(orders.timeout)).toBe(30)
      // order placement retries only errors raised before anything was sent
      expect(orders.retry.retryOn).toEqual(["ConnectionRefusedError"])

      expect(settings.serviceTypes["broker"]).toBe(ResilienceConfig.BROKER)
      expect(settings.serviceTypes["data_provider"]).toBe(ResilienceConfig.DATA_PROVIDER)
      expect(settings.serviceTypes["internal"]).toBe(ResilienceConfig.INTERNAL)
      // the defaults are themselves valid
      const validated = yield* ResilienceConfig.make()
      expect(validated.serviceTypes["broker_api"]!.breaker.failureThreshold).toBe(5)
    }))

  it.effect("overrides by service type and by service name, resolved section by section", () =>
    Effect.gen(function*() {
      const settings = yield* ResilienceConfig.make({
        serviceTypes: { broker_api: { breaker: { failureThreshold: 2 }, timeout: "4 seconds" } },
        services: { alpaca: { serviceType: "broker_api", bulkhead: { maxConcurrent: 3 }, retry: { jitter: false } } }
      })
      const alpaca = yield* ResilienceConfig.resolve(settings, { service: "alpaca" })
      expect(alpaca.breaker).toMatchObject({ failureThreshold: 2 })
      expect(Duration.toSeconds(alpaca.breaker.resetTimeout)).toBe(60)
      expect(alpaca.bulkhead).toMatchObject({ maxConcurrent: 3, maxWaiting: 20 })
      expect(alpaca.retry).toMatchObject({ maxRetries: 3, jitter: "none" })
      expect(Duration.toSeconds(alpaca.timeout)).toBe(4)

      const other = yield* ResilienceConfig.resolve(settings, { service: "ib", serviceType: "broker_api" })
      expect(other.bulkhead.maxConcurrent).toBe(10)
      const unnamed = yield* ResilienceConfig.resolve(settings, { service: "risk" })
      expect(unnamed).toEqual(ResilienceConfig.INTERNAL)

      const unknown = yield* Effect.flip(ResilienceConfig.resolve(settings, { service: "x", serviceType: "nope" }))
      expect(unknown._tag).toBe("InvalidOptionsError")
      expect(unknown.message).toContain("serviceType")
    }))

  it.effect("reads RESILIENCE_<SERVICE_TYPE>_<SETTING> environment variables", () =>
    Effect.gen(function*() {
      const settings = yield* fromEnv({
        RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "7",
        RESILIENCE_BROKER_API_RESET_TIMEOUT: "90s",
        RESILIENCE_MARKET_DATA_TIMEOUT: "2500 millis",
        RESILIENCE_MARKET_DATA_JITTER: "false",
        RESILIENCE_MARKET_DATA_MAX_RETRIES: "0",
        RESILIENCE_ORDER_EXECUTION_RETRY_ON: "ConnectionRefusedError, DnsError",
        RESILIENCE_INTERNAL_MAX_CONCURRENT: "64",
        RESILIENCE_DEFAULT_SERVICE_TYPE: "broker"
      })
      expect(settings.serviceTypes["broker_api"]!.breaker.failureThreshold).toBe(7)
      expect(Duration.toSeconds(settings.serviceTypes["broker_api"]!.breaker.resetTimeout)).toBe(90)
      expect(Duration.toMillis(settings.serviceTypes["market_data"]!.timeout)).toBe(2500)
      expect(settings.serviceTypes["market_data"]!.retry).toMatchObject({ jitter: "none", maxRetries: 0 })
      expect(settings.serviceTypes["order_execution"]!.retry.retryOn).toEqual(["ConnectionRefusedError", "DnsError"])
      expect(settings.serviceTypes["internal"]!.bulkhead.maxConcurrent).toBe(64)
      expect(settings.defaultServiceType).toBe("broker")
      // untouched settings keep their defaults
      expect(settings.serviceTypes["broker_api"]!.bulkhead.maxConcurrent).toBe(10)
    }))

  it.effect("reads a JSON document; environment variables win over it", () =>
    Effect.gen(function*() {
      const json = JSON.stringify({
        serviceTypes: {
          broker_api: { breaker: { failureThreshold: 4 }, timeout: "8 seconds" },
          crypto_exchange: {
            breaker: { failureThreshold: 2, resetTimeout: "20s" },
            retry: { maxRetries: 1, baseDelay: "200ms", maxDelay: "1s", factor: 3, jitter: "equal" },
            bulkhead: { maxConcurrent: 4, maxWaiting: 0 },
            timeout: "3s"
          }
        },
        services: { binance: { serviceType: "crypto_exchange", timeout: "2s" } }
      })
      const settings = yield* fromEnv({
        RESILIENCE_CONFIG_JSON: json,
        RESILIENCE_BROKER_API_TIMEOUT: "6 seconds",
        // a service type introduced by JSON is addressable from the environment too
        RESILIENCE_CRYPTO_EXCHANGE_MAX_WAITING: "2"
      })
      expect(settings.serviceTypes["broker_api"]!.breaker.failureThreshold).toBe(4)
      expect(Duration.toSeconds(settings.serviceTypes["broker_api"]!.timeout)).toBe(6)
      expect(settings.serviceTypes["crypto_exchange"]!.bulkhead).toEqual({ maxConcurrent: 4, maxWaiting: 2 })
      const binance = yield* ResilienceConfig.resolve(settings, { service: "binance" })
      expect(Duration.toSeconds(binance.timeout)).toBe(2)
      expect(binance.retry.jitter).toBe("equal")
    }))

  it.effect("an invalid environment value fails naming the variable and the rule", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string, string]> = [
        [{ RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "0" }, "RESILIENCE_BROKER_API_FAILURE_THRESHOLD", "integer >= 1"],
        [{ RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "-3" }, "RESILIENCE_BROKER_API_FAILURE_THRESHOLD", "integer >= 1"],
        [{ RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "five" }, "RESILIENCE_BROKER_API_FAILURE_THRESHOLD", ">= 1"],
        [{ RESILIENCE_MARKET_DATA_MAX_CONCURRENT: "2.5" }, "RESILIENCE_MARKET_DATA_MAX_CONCURRENT", "integer"],
        [{ RESILIENCE_MARKET_DATA_TIMEOUT: "5" }, "RESILIENCE_MARKET_DATA_TIMEOUT", "with a unit"],
        [{ RESILIENCE_MARKET_DATA_TIMEOUT: "0s" }, "RESILIENCE_MARKET_DATA_TIMEOUT", "duration > 0"],
        [{ RESILIENCE_MARKET_DATA_TIMEOUT: "NaN seconds" }, "RESILIENCE_MARKET_DATA_TIMEOUT", "duration > 0"],
        [{ RESILIENCE_BROKER_API_MAX_DELAY: "500ms" }, "RESILIENCE_BROKER_API_MAX_DELAY", "must be >= baseDelay"],
        [{ RESILIENCE_BROKER_API_JITTER: "sometimes" }, "RESILIENCE_BROKER_API_JITTER", "\"decorrelated\""],
        [{ RESILIENCE_BROKER_API_BACKOFF_FACTOR: "0.5" }, "RESILIENCE_BROKER_API_BACKOFF_FACTOR", ">= 1"],
        [{ RESILIENCE_INTERNAL_MAX_WAITING: "-1" }, "RESILIENCE_INTERNAL_MAX_WAITING", "integer >= 0"],
        [{ RESILIENCE_DEFAULT_SERVICE_TYPE: "gold" }, "RESILIENCE_DEFAULT_SERVICE_TYPE", "configured service type"]
      ]
      for (const [env, key, ruleText] of cases) {
        const error = yield* loadError(env)
        expect(error._tag).toBe("ResilienceConfigError")
        expect(error.key).toBe(key)
        expect(error.message).toContain(key)
        expect(error.message).toContain(ruleText)
        expect(error.message).toContain(JSON.stringify(Object.values(env)[0]))
      }
    }))

  it.effect("a rate limit is unset by default and read from code, JSON and RESILIENCE_<TYPE>_RATE_LIMIT_* variables", () =>
    Effect.gen(function*() {
      const defaults = yield* fromEnv({})
      for (const profile of Object.values(defaults.serviceTypes)) expect(profile.rateLimit).toBeUndefined()
      expect(ResilienceConfig.resolveRateLimit(defaults, { service: "polygon", serviceType: "market_data" }))
        .toBeUndefined()

      const settings = yield* ResilienceConfig.load({
        services: { polygon: { rateLimit: { burstSize: 3 } } }
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(
        new Map([
          [
            "RESILIENCE_CONFIG_JSON",
            JSON.stringify({
              serviceTypes: { market_data: { rateLimit: { tokensPerSecond: 1, mode: "fail" } } },
              services: { polygon: { rateLimit: { maxWait: "30 seconds" } } }
            })
          ],
          ["RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND", "0.5"],
          ["RESILIENCE_MARKET_DATA_RATE_LIMIT_BURST_SIZE", "4"],
          ["RESILIENCE_MARKET_DATA_RATE_LIMIT_MAX_WAIT", "2 minutes"],
          ["RESILIENCE_MARKET_DATA_RATE_LIMIT_MODE", "wait"]
        ])
      )))
      const byType = settings.serviceTypes["market_data"]!.rateLimit!
      // env beats JSON for the type's settings
      expect(byType).toMatchObject({ tokensPerSecond: 0.5, burstSize: 4, mode: "wait" })
      expect(Duration.toMinutes(byType.maxWait!)).toBe(2)
      // the service's own fields (code, then JSON) over its type's, field by field
      const polygon = ResilienceConfig.resolveRateLimit(settings, { service: "polygon", serviceType: "market_data" })!
      expect(polygon).toMatchObject({ tokensPerSecond: 0.5, burstSize: 3, mode: "wait" })
      expect(Duration.toSeconds(polygon.maxWait!)).toBe(30)
      const resolved = yield* ResilienceConfig.resolve(settings, { service: "polygon", serviceType: "market_data" })
      expect(resolved.rateLimit).toEqual(polygon)
      // another service of the type gets the type's limit; another type none
      expect(ResilienceConfig.resolveRateLimit(settings, { service: "fred", serviceType: "market_data" }))
        .toEqual(byType)
      expect(ResilienceConfig.resolveRateLimit(settings, { service: "alpaca", serviceType: "broker_api" }))
        .toBeUndefined()
    }))

  it.effect("an invalid rate-limit value fails naming the variable or JSON path and the rule", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string, string]> = [
        [
          { RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND: "0" },
          "RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND",
          "number > 0"
        ],
        [
          { RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND: "fast" },
          "RESILIENCE_MARKET_DATA_RATE_LIMIT_TOKENS_PER_SECOND",
          "number > 0"
        ],
        [
          { RESILIENCE_BROKER_API_RATE_LIMIT_BURST_SIZE: "1.5" },
          "RESILIENCE_BROKER_API_RATE_LIMIT_BURST_SIZE",
          "integer >= 1"
        ],
        [
          { RESILIENCE_BROKER_API_RATE_LIMIT_BURST_SIZE: "0" },
          "RESILIENCE_BROKER_API_RATE_LIMIT_BURST_SIZE",
          "integer >= 1"
        ],
        [
          { RESILIENCE_MARKET_DATA_RATE_LIMIT_MAX_WAIT: "30" },
          "RESILIENCE_MARKET_DATA_RATE_LIMIT_MAX_WAIT",
          "with a unit"
        ],
        [
          { RESILIENCE_MARKET_DATA_RATE_LIMIT_MODE: "queue" },
          "RESILIENCE_MARKET_DATA_RATE_LIMIT_MODE",
          "\"fail\" or \"wait\""
        ]
      ]
      for (const [env, key, ruleText] of cases) {
        const error = yield* loadError(env)
        expect(error.key).toBe(key)
        expect(error.source).toBe("env")
        expect(error.message).toContain(key)
        expect(error.message).toContain(ruleText)
        expect(error.message).toContain(JSON.stringify(Object.values(env)[0]))
      }

      const json = (value: unknown) => ({ RESILIENCE_CONFIG_JSON: JSON.stringify(value) })
      const negative = yield* loadError(json({ services: { polygon: { rateLimit: { tokensPerSecond: -1 } } } }))
      expect(negative.key).toBe("services.polygon.rateLimit.tokensPerSecond")
      expect(negative.source).toBe("RESILIENCE_CONFIG_JSON")
      expect(negative.rule).toContain("number > 0")
      const typo = yield* loadError(json({ serviceTypes: { market_data: { rateLimit: { burst: 2 } } } }))
      expect(typo.key).toBe("serviceTypes.market_data.rateLimit.burst")
      expect(typo.rule).toBe("is not a known setting")

      const code = yield* Effect.flip(
        ResilienceConfig.make({ services: { fred: { rateLimit: { mode: "drop" as any } } } })
      )
      expect(code.key).toBe("services.fred.rateLimit.mode")
      expect(code.rule).toContain("\"fail\" or \"wait\"")
    }))

  it.effect("every broken rule is reported, not only the first", () =>
    Effect.gen(function*() {
      const error = yield* loadError({
        RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "0",
        RESILIENCE_MARKET_DATA_TIMEOUT: "-1s"
      })
      expect(error.issues.map((i) => i.key).sort()).toEqual([
        "RESILIENCE_BROKER_API_FAILURE_THRESHOLD",
        "RESILIENCE_MARKET_DATA_TIMEOUT"
      ])
    }))

  it.effect("an invalid JSON document fails naming the JSON path and the rule", () =>
    Effect.gen(function*() {
      const malformed = yield* loadError({ RESILIENCE_CONFIG_JSON: "{ \"serviceTypes\": " })
      expect(malformed.key).toBe("RESILIENCE_CONFIG_JSON")
      expect(malformed.message).toContain("must be valid JSON")

      const notObject = yield* loadError({ RESILIENCE_CONFIG_JSON: "[1, 2]" })
      expect(notObject.message).toContain("must be a JSON object")

      const json = (value: unknown) => ({ RESILIENCE_CONFIG_JSON: JSON.stringify(value) })
      const maxBelowBase = yield* loadError(json({ serviceTypes: { broker_api: { retry: { maxDelay: "100ms" } } } }))
      expect(maxBelowBase.key).toBe("serviceTypes.broker_api.retry.maxDelay")
      expect(maxBelowBase.source).toBe("RESILIENCE_CONFIG_JSON")
      expect(maxBelowBase.message).toContain("serviceTypes.broker_api.retry.maxDelay (in RESILIENCE_CONFIG_JSON)")
      expect(maxBelowBase.message).toContain("must be >= baseDelay (1s)")

      const typo = yield* loadError(json({ serviceTypes: { broker_api: { breaker: { failureTreshold: 3 } } } }))
      expect(typo.key).toBe("serviceTypes.broker_api.breaker.failureTreshold")
      expect(typo.rule).toBe("is not a known setting")

      const bareNumber = yield* loadError(json({ serviceTypes: { market_data: { timeout: 5 } } }))
      expect(bareNumber.key).toBe("serviceTypes.market_data.timeout")
      expect(bareNumber.rule).toContain("with a unit")

      const incomplete = yield* loadError(json({ serviceTypes: { crypto: { timeout: "1s" } } }))
      expect(incomplete.key).toBe("serviceTypes.crypto.breaker")
      expect(incomplete.rule).toBe("is required")

      const unknownType = yield* loadError(json({ services: { binance: { serviceType: "crypto" } } }))
      expect(unknownType.key).toBe("services.binance.serviceType")
      expect(unknownType.rule).toContain("configured service type")

      const serviceOverride = yield* loadError(
        json({ services: { ib: { serviceType: "broker", retry: { maxDelay: "1ms" } } } })
      )
      expect(serviceOverride.key).toBe("services.ib.retry.maxDelay")
    }))

  it.effect("an invalid code input fails naming its path; the layer fails the same way", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ResilienceConfig.ResilienceConfig.pipe(
          Effect.provide(ResilienceConfig.layer({ serviceTypes: { broker_api: { bulkhead: { maxConcurrent: 0 } } } }))
        )
      )
      expect(error.key).toBe("serviceTypes.broker_api.bulkhead.maxConcurrent")
      expect(error.message).toContain("= 0: must be an integer >= 1")
    }))

  it.prop(
    "a failure threshold from the environment is accepted iff it is an integer >= 1",
    [FastCheck.oneof(FastCheck.integer({ min: -1000, max: 1000 }), FastCheck.double({ noNaN: false }))],
    ([n]) => {
      const result = Effect.runSync(Effect.either(fromEnv({ RESILIENCE_MARKET_DATA_FAILURE_THRESHOLD: String(n) })))
      if (Number.isInteger(n) && n >= 1) {
        expect(Either.isRight(result) && result.right.serviceTypes["market_data"]!.breaker.failureThreshold).toBe(n)
      } else {
        expect(Either.isLeft(result) && result.left.key).toBe("RESILIENCE_MARKET_DATA_FAILURE_THRESHOLD")
      }
    }
  )
})
