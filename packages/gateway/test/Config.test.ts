import { Gateway, GatewayConfig } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { freePort } from "../../redis/test/support/redisServer.js"
import { eventually, request, startGateway } from "./utils/gateway.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const startupError = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(
      Effect.scoped(
        Effect.flatMap(GatewayConfig.config, (config) =>
          Layer.build(Gateway.layer({ ...config, port: 0, demoTraffic: 0 })))
      ).pipe(withEnv(env))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isSuccess(exit)) {
      return ""
    }
    return Option.getOrElse(GatewayConfig.formatError(exit.cause), () =>
      "(not a configuration error)")
  })

describe("configuration", () => {
  it.effect("defaults: 127.0.0.1:8080, simulated providers, in-memory limiter", () =>
    Effect.gen(function*() {
      const config = yield* GatewayConfig.config.pipe(withEnv({}))
      expect(config.host).toBe("127.0.0.1")
      expect(config.port).toBe(8080)
      expect(config.broker).toBe("simulated")
      expect(config.marketData).toBe("simulated")
      expect(Option.isNone(config.redisUrl)).toBe(true)
      expect(config.marketDataPolicy.hedgeDelay).toEqual({ percentile: 95 })
      expect(config.marketDataPolicy.maxHedgedAttempts).toBe(1)
      expect(Duration.toMillis(config.marketDataPolicy.staleQuoteMaxAge)).toBe(30_000)
      const hedge = yield* GatewayConfig.config.pipe(withEnv({
        MARKET_DATA_HEDGE_DELAY: "p99.5",
        MARKET_DATA_HEDGE_MAX: "0",
        STALE_QUOTE_MAX_AGE: "2 minutes"
      }))
      expect(hedge.marketDataPolicy.hedgeDelay).toEqual({ percentile: 99.5 })
      expect(hedge.marketDataPolicy.maxHedgedAttempts).toBe(0)
      expect(Duration.toMillis(hedge.marketDataPolicy.staleQuoteMaxAge)).toBe(120_000)
      const fixed = yield* GatewayConfig.config.pipe(withEnv({ MARKET_DATA_HEDGE_DELAY: "150 millis" }))
      expect(fixed.marketDataPolicy.hedgeDelay).toEqual(Duration.millis(150))
      const custom = yield* GatewayConfig.config.pipe(withEnv({
        PORT: "9000",
        RATE_LIMIT_RPS: "2.5",
        TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1",
        SIM_RESET_TIMEOUT: "3 seconds",
        REDIS_URL: "redis://127.0.0.1:6379"
      }))
      expect(custom.port).toBe(9000)
      expect(custom.rateLimit.tokensPerSecond).toBe(2.5)
      expect(custom.rateLimit.trustedProxies).toEqual(["10.0.0.0/8", "127.0.0.1"])
      expect(Duration.toMillis(custom.simulated.resetTimeout)).toBe(3000)
      expect(Option.isSome(custom.redisUrl)).toBe(true)
    }))

  it.effect("fleet-wide breakers: off by default, BREAKER_REDIS_URL turns them on, GATEWAY_INSTANCE_ID names the instance", () =>
    Effect.gen(function*() {
      const plain = yield* GatewayConfig.config.pipe(withEnv({ REDIS_URL: "redis://127.0.0.1:6379" }))
      // the rate limiter's Redis alone does not share the breakers
      expect(Option.isNone(plain.fleet.breakerRedisUrl)).toBe(true)
      expect(plain.fleet.instanceId).toBe(GatewayConfig.defaultInstanceId())
      expect(plain.fleet.instanceId).toMatch(/^[A-Za-z0-9._:-]+:\d+$/)
      const fleet = yield* GatewayConfig.config.pipe(withEnv({
        BREAKER_REDIS_URL: "redis://127.0.0.1:6380/2",
        GATEWAY_INSTANCE_ID: "gw-eu-1",
        BREAKER_QUORUM: "3"
      }))
      expect(Option.map(fleet.fleet.breakerRedisUrl, Redacted.value)).toEqual(Option.some("redis://127.0.0.1:6380/2"))
      expect(fleet.fleet.instanceId).toBe("gw-eu-1")
      expect(fleet.fleet.quorum).toBe(3)
      expect(plain.fleet.quorum).toBe(2)
    }))

  it.effect("a bad value stops start-up with a message naming the variable", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ PORT: "eighty" }, "PORT"],
        [{ PORT: "70000" }, "PORT"],
        [{ GATEWAY_BROKER: "robinhood" }, "GATEWAY_BROKER"],
        [{ RATE_LIMIT_RPS: "0" }, "RATE_LIMIT_RPS"],
        [{ REDIS_URL: "http://cache:6379" }, "REDIS_URL"],
        [{ BREAKER_REDIS_URL: "cache:6379" }, "BREAKER_REDIS_URL"],
        [{ GATEWAY_INSTANCE_ID: "gw 1" }, "GATEWAY_INSTANCE_ID"],
        [{ GATEWAY_INSTANCE_ID: "" }, "GATEWAY_INSTANCE_ID"],
        [{ BREAKER_QUORUM: "0" }, "BREAKER_QUORUM"],
        [{ SHUTDOWN_TIMEOUT: "soon" }, "SHUTDOWN_TIMEOUT"],
        [{ API_KEY_HEADER: "x api key" }, "API_KEY_HEADER"],
        [{ MARKET_DATA_HEDGE_DELAY: "p100" }, "MARKET_DATA_HEDGE_DELAY"],
        [{ MARKET_DATA_HEDGE_DELAY: "soon" }, "MARKET_DATA_HEDGE_DELAY"],
        [{ MARKET_DATA_HEDGE_MAX: "11" }, "MARKET_DATA_HEDGE_MAX"],
        [{ STALE_QUOTE_MAX_AGE: "0 seconds" }, "STALE_QUOTE_MAX_AGE"],
        // a real provider without its keys
        [{ GATEWAY_BROKER: "alpaca" }, "ALPACA_API_KEY_ID"],
        [{ GATEWAY_MARKET_DATA: "polygon" }, "POLYGON_API_KEY"],
        // the resilience profiles' own variables
        [{ RESILIENCE_BROKER_API_FAILURE_THRESHOLD: "-1" }, "RESILIENCE_BROKER_API_FAILURE_THRESHOLD"]
      ]
      for (const [env, key] of cases) {
        const message = yield* startupError(env)
        expect(message, JSON.stringify(env)).toContain("Invalid gateway configuration")
        expect(message, JSON.stringify(env)).toContain(key)
      }
    }))

  it("`pnpm start` with a bad PORT exits 1 and names PORT on stderr", async () => {
    const cwd = Path.resolve(import.meta.dirname, "..")
    const result = ChildProcess.spawnSync(Path.resolve(cwd, "../../node_modules/.bin/tsx"), ["src/main.ts"], {
      cwd,
      env: { ...process.env, PORT: "not-a-port" },
      encoding: "utf8",
      // tsx compiles the gateway first: seconds on a busy machine, so minutes of margin
      timeout: 110_000
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain("Invalid gateway configuration")
    expect(result.stderr).toMatch(/PORT: .*integer/)
  }, 120_000)
})

describe("BREAKER_REDIS_URL on a Redis that is not there", () => {
  it.scopedLive("the gateway starts, answers, and shows its breakers on local fallback", () =>
    Effect.gen(function*() {
      // a port nothing listens on: every store call fails at once (connection refused)
      const port = yield* Effect.promise(() => freePort())
      const url = yield* startGateway({
        fleet: { breakerRedisUrl: Option.some(Redacted.make(`redis://127.0.0.1:${port}`)), instanceId: "alone" }
      })
      expect((yield* request(url, "/account")).status).toBe(200)
      const status = yield* eventually(
        "the broker breaker on local fallback",
        request(url, "/resilience/status"),
        (r) =>
          (r.body.breakers as Array<{ name: string; fleet?: { mode: string } }>)
            .find((b) => b.name === "simulated/broker_api")?.fleet?.mode === "local-fallback",
        30_000
      )
      const broker = (status.body.breakers as Array<{ name: string; state: string; fleet?: { instanceId: string } }>)
        .find((b) => b.name === "simulated/broker_api")
      expect(broker?.state).toBe("Closed")
      expect(broker?.fleet?.instanceId).toBe("alone")
    }), 60_000)
})
