/**
 * The gateway's configuration, read once at start-up through Effect `Config`
 * (environment variables by default). A bad value stops start-up with a
 * message naming the variable (`formatError`).
 *
 * Reach for `config` to read it, for `make` to build one in code (tests), and
 * for `formatError` to explain a failed start.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Os from "node:os"

/**
 * Broker providers the gateway can use.
 *
 * @since 0.1.0
 * @category models
 */
export const brokerProviders = ["simulated", "alpaca", "interactive_brokers"] as const

/**
 * Market-data providers the gateway can use.
 *
 * @since 0.1.0
 * @category models
 */
export const marketDataProviders = ["simulated", "polygon", "yahoo", "fred", "alpha_vantage"] as const

/**
 * What happens to rate-limit decisions when Redis cannot answer.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisFailureMode = "fail-open" | "fail-closed" | "fallback-memory" | "fail"

/**
 * The whole configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface GatewayConfig {
  /** `HOST`. @default "127.0.0.1" */
  readonly host: string
  /** `PORT` (0: any free port). @default 8080 */
  readonly port: number
  /** `GATEWAY_BROKER`. @default "simulated" */
  readonly broker: typeof brokerProviders[number]
  /** `GATEWAY_MARKET_DATA`. @default "simulated" */
  readonly marketData: typeof marketDataProviders[number]
  readonly rateLimit: {
    /** `RATE_LIMIT_RPS`: each client's refill rate. @default 20 */
    readonly tokensPerSecond: number
    /** `RATE_LIMIT_BURST`: each client's bucket. @default 40 */
    readonly burstSize: number
    /** `RATE_LIMIT_GLOBAL_RPS` (0 disables the global bucket). @default 500 */
    readonly globalTokensPerSecond: number
    /** `RATE_LIMIT_GLOBAL_BURST`. @default 1000 */
    readonly globalBurstSize: number
    /** `API_KEY_HEADER`: the header carrying a client's API key. @default "x-api-key" */
    readonly apiKeyHeader: string
    /**
     * `API_KEYS`: comma-separated API keys. A configured key has its own
     * bucket; any other key is charged to its IP and answered 401; no key is
     * keyed by IP. Empty: every client is keyed by its IP (see `ApiKeys`).
     * @default none
     */
    readonly apiKeys: ReadonlyArray<string>
    /** `TRUSTED_PROXIES`: comma-separated addresses / CIDRs whose forwarding headers are read. @default none */
    readonly trustedProxies: ReadonlyArray<string>
  }
  readonly loadShedding: {
    /** `LOAD_SHED_MAX_IN_FLIGHT`. @default 200 */
    readonly maxInFlight: number
    /** `LOAD_SHED_MAX_QUEUED`. @default 100 */
    readonly maxQueued: number
    /** `LOAD_SHED_QUEUE_TIMEOUT`. @default 1 second */
    readonly queueTimeout: Duration.Duration
  }
  /** `REDIS_URL`: share the rate limits of a fleet through Redis; in-memory without it. */
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  /** `REDIS_ON_ERROR`. @default "fallback-memory" */
  readonly redisOnError: RedisFailureMode
  /** The fleet-wide circuit breakers (see `fleetDefaults`). */
  readonly fleet: {
    /**
     * `BREAKER_REDIS_URL`: the broker and market-data breakers are shared by
     * every gateway on that Redis (they open, probe and close together); each
     * gateway keeps its own breakers without it. Separate from `REDIS_URL`
     * (both may name the same server): sharing breakers is a choice of its own.
     * @default none
     */
    readonly breakerRedisUrl: Option.Option<Redacted.Redacted<string>>
    /**
     * `GATEWAY_INSTANCE_ID`: this gateway's name in the fleet (the dashboard's
     * list of instances that reported failures). 1 to 128 characters from
     * `A-Z a-z 0-9 . _ : -`. @default hostname:pid
     */
    readonly instanceId: string
    /**
     * `BREAKER_QUORUM`: a shared breaker opens the fleet only when failures
     * came from at least this many gateways (1 to 1000), so one gateway with a
     * broken network of its own opens only its own breaker. @default 2
     */
    readonly quorum: number
  }
  /** `SHUTDOWN_TIMEOUT`: how long in-flight requests may take to finish. @default 10 seconds */
  readonly shutdownTimeout: Duration.Duration
  /** `GATEWAY_ADMIN`: serve `/admin/*` (fault injection, order book). @default true */
  readonly admin: boolean
  readonly orders: {
    /**
     * `ORDER_IDS_MAX`: how many client order ids the gateway remembers for
     * idempotent placement (LRU, ~0.5 KB each). @default 50000
     */
    readonly maxIdempotencyIds: number
  }
  readonly simulated: {
    /** `SIM_SEED`. @default 42 */
    readonly seed: number
    /** `SIM_RESET_TIMEOUT`: how long a simulated provider's breakers stay open. @default 10 seconds */
    readonly resetTimeout: Duration.Duration
    /** `SIM_TIMEOUT`: per-attempt timeout of simulated calls (orders get 2×). @default 1.5 seconds */
    readonly timeout: Duration.Duration
  }
  /** `DEMO_TRAFFIC`: requests per second the gateway sends itself (simulated providers only; 0: off). @default 4 */
  readonly demoTraffic: number
  /** The market-data routes' hedge and stale quotes (see `MarketDataPolicy`). */
  readonly marketDataPolicy: {
    /**
     * `MARKET_DATA_HEDGE_DELAY`: when a quote or bars read starts its hedge —
     * a duration (`"200 millis"`), or `p<N>` for the N-th percentile of recent
     * latencies (200 ms until 20 are known). @default p95
     */
    readonly hedgeDelay: Duration.Duration | { readonly percentile: number }
    /** `MARKET_DATA_HEDGE_MAX`: hedged attempts besides the first (0: no hedging). @default 1 */
    readonly maxHedgedAttempts: number
    /** `STALE_QUOTE_MAX_AGE`: the oldest last good quote served (marked stale) while the provider fails. @default 30 seconds */
    readonly staleQuoteMaxAge: Duration.Duration
  }
  /** The HTTP transport's limits (see `HttpTransport`). */
  readonly server: {
    /** `MAX_BODY_BYTES`: the largest request body; 413 beyond. @default 65536 (64 KiB) */
    readonly maxBodyBytes: number
    /** `MAX_JSON_DEPTH`: how deep a JSON body may nest; 400 beyond. @default 32 */
    readonly maxJsonDepth: number
    /** `REQUEST_TIMEOUT`: the deadline for a request's headers and body to arrive; 408 beyond. @default 10 seconds */
    readonly requestTimeout: Duration.Duration
    /** `MAX_HEADER_BYTES`: the largest request head (request line + headers); 431 beyond. @default 16384 */
    readonly maxHeaderBytes: number
    /** `SSE_MAX_STREAMS`: open `/dashboard/events` streams in all; 503 beyond. @default 100 */
    readonly maxEventStreams: number
    /** `SSE_MAX_STREAMS_PER_CLIENT`: open streams per client IP; 429 beyond. @default 4 */
    readonly maxEventStreamsPerClient: number
  }
  /** Where traces and metrics go, from the standard OpenTelemetry variables (see `Observability`). */
  readonly telemetry: {
    /** `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP traces and metrics are sent there when set. @default none */
    readonly otlpEndpoint: Option.Option<string>
    /** `OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between OTLP metric exports. @default 60000 */
    readonly metricExportIntervalMillis: number
    /** `OTEL_SERVICE_NAME`: the `service.name` resource attribute. @default "effect-resilience-gateway" */
    readonly serviceName: string
  }
}

/**
 * The default `GATEWAY_INSTANCE_ID`: `hostname:pid` (a character outside the
 * allowed set becomes `-`), unique per process on a machine and readable on
 * the dashboard.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultInstanceId = (): string =>
  `${Os.hostname()}:${process.pid}`.replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 128)

const redisUrl = (name: string) =>
  Config.redacted(name).pipe(
    Config.mapOrFail((r) =>
      /^rediss?:\/\/\S+$/.test(Redacted.value(r))
        ? Either.right(r)
        : Either.left(ConfigError.InvalidData([name], "must be a redis:// or rediss:// URL"))
    )
  )

/**
 * The defaults (what `pnpm start` runs with no environment).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: GatewayConfig = {
  host: "127.0.0.1",
  port: 8080,
  broker: "simulated",
  marketData: "simulated",
  rateLimit: {
    tokensPerSecond: 20,
    burstSize: 40,
    globalTokensPerSecond: 500,
    globalBurstSize: 1000,
    apiKeyHeader: "x-api-key",
    apiKeys: [],
    trustedProxies: []
  },
  loadShedding: { maxInFlight: 200, maxQueued: 100, queueTimeout: Duration.seconds(1) },
  redisUrl: Option.none(),
  redisOnError: "fallback-memory",
  fleet: { breakerRedisUrl: Option.none(), instanceId: defaultInstanceId(), quorum: 2 },
  shutdownTimeout: Duration.seconds(10),
  admin: true,
  orders: { maxIdempotencyIds: 50_000 },
  simulated: { seed: 42, resetTimeout: Duration.seconds(10), timeout: Duration.millis(1500) },
  demoTraffic: 4,
  marketDataPolicy: { hedgeDelay: { percentile: 95 }, maxHedgedAttempts: 1, staleQuoteMaxAge: Duration.seconds(30) },
  server: {
    maxBodyBytes: 64 * 1024,
    maxJsonDepth: 32,
    requestTimeout: Duration.seconds(10),
    maxHeaderBytes: 16 * 1024,
    maxEventStreams: 100,
    maxEventStreamsPerClient: 4
  },
  telemetry: {
    otlpEndpoint: Option.none(),
    metricExportIntervalMillis: 60_000,
    serviceName: "effect-resilience-gateway"
  }
}

/**
 * Patch the defaults (nested objects merged one level deep).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (patch: Partial<{ [K in keyof GatewayConfig]: Partial<GatewayConfig[K]> }> = {}): GatewayConfig => {
  const out: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(patch)) {
    const base = (defaults as unknown as Record<string, unknown>)[key]
    out[key] = typeof base === "object" && base !== null && !Option.isOption(base) && !Duration.isDuration(base) &&
        !Array.isArray(base)
      ? { ...base, ...(value as object) }
      : value
  }
  return out as unknown as GatewayConfig
}

// Config.validate reports an empty path: name the variable in the error ourselves.
const check = <A>(name: string, message: string, predicate: (a: A) => boolean) => (self: Config.Config<A>) =>
  Config.mapOrFail(
    self,
    (a) => predicate(a) ? Either.right(a) : Either.left(ConfigError.InvalidData([name], `${message}, not ${String(a)}`))
  )

const between = (name: string, min: number, max: number, fallback: number, integer = true) =>
  (integer ? Config.integer(name) : Config.number(name)).pipe(
    Config.withDefault(fallback),
    check(
      name,
      `must be ${integer ? "an integer" : "a number"} between ${min} and ${max}`,
      (n: number) => Number.isFinite(n) && n >= min && n <= max
    )
  )

const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.duration(name).pipe(
    Config.withDefault(fallback),
    check(name, "must be a positive duration such as \"2 seconds\"", (d: Duration.Duration) => Duration.toMillis(d) > 0)
  )

/**
 * The configuration from the current `ConfigProvider` (see `GatewayConfig`
 * for each variable and its default).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<GatewayConfig> = Config.all({
  host: Config.string("HOST").pipe(
    Config.withDefault(defaults.host),
    check("HOST", "must not be empty", (s: string) => s.trim().length > 0)
  ),
  port: between("PORT", 0, 65535, defaults.port),
  broker: Config.literal(...brokerProviders)("GATEWAY_BROKER").pipe(Config.withDefault(defaults.broker)),
  marketData: Config.literal(...marketDataProviders)("GATEWAY_MARKET_DATA").pipe(
    Config.withDefault(defaults.marketData)
  ),
  rateLimit: Config.all({
    tokensPerSecond: between("RATE_LIMIT_RPS", 0.001, 1_000_000, defaults.rateLimit.tokensPerSecond, false),
    burstSize: between("RATE_LIMIT_BURST", 1, 1_000_000, defaults.rateLimit.burstSize),
    globalTokensPerSecond: between(
      "RATE_LIMIT_GLOBAL_RPS",
      0,
      10_000_000,
      defaults.rateLimit.globalTokensPerSecond,
      false
    ),
    globalBurstSize: between("RATE_LIMIT_GLOBAL_BURST", 1, 10_000_000, defaults.rateLimit.globalBurstSize),
    apiKeyHeader: Config.string("API_KEY_HEADER").pipe(
      Config.withDefault(defaults.rateLimit.apiKeyHeader),
      check("API_KEY_HEADER", "must be an HTTP header name", (s: string) => /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(s)),
      Config.map((s) => s.toLowerCase())
    ),
    apiKeys: Config.redacted("API_KEYS").pipe(
      Config.withDefault(Redacted.make("")),
      Config.map((r) => Redacted.value(r).split(",").map((k) => k.trim()).filter((k) => k.length > 0)),
      // not `check`: its message would print the keys
      Config.mapOrFail((keys) =>
        keys.every((k) => /^[\x21-\x7e]{1,256}$/.test(k))
          ? Either.right(keys)
          : Either.left(
            ConfigError.InvalidData(["API_KEYS"], "must be comma-separated keys of 1 to 256 printable characters")
          )
      )
    ),
    trustedProxies: Config.string("TRUSTED_PROXIES").pipe(
      Config.withDefault(""),
      Config.map((s) => s.split(",").map((p) => p.trim()).filter((p) => p.length > 0))
    )
  }),
  loadShedding: Config.all({
    maxInFlight: between("LOAD_SHED_MAX_IN_FLIGHT", 1, 1_000_000, defaults.loadShedding.maxInFlight),
    maxQueued: between("LOAD_SHED_MAX_QUEUED", 0, 1_000_000, defaults.loadShedding.maxQueued),
    queueTimeout: positiveDuration("LOAD_SHED_QUEUE_TIMEOUT", defaults.loadShedding.queueTimeout)
  }),
  redisUrl: Config.option(redisUrl("REDIS_URL")),
  redisOnError: Config.literal("fail-open", "fail-closed", "fallback-memory", "fail")("REDIS_ON_ERROR").pipe(
    Config.withDefault<RedisFailureMode>(defaults.redisOnError)
  ),
  fleet: Config.all({
    breakerRedisUrl: Config.option(redisUrl("BREAKER_REDIS_URL")),
    instanceId: Config.string("GATEWAY_INSTANCE_ID").pipe(
      Config.withDefault(defaults.fleet.instanceId),
      check(
        "GATEWAY_INSTANCE_ID",
        "must be 1 to 128 characters from A-Z a-z 0-9 . _ : -",
        (s: string) => /^[A-Za-z0-9._:-]{1,128}$/.test(s)
      )
    ),
    quorum: between("BREAKER_QUORUM", 1, 1000, defaults.fleet.quorum)
  }),
  shutdownTimeout: positiveDuration("SHUTDOWN_TIMEOUT", defaults.shutdownTimeout),
  admin: Config.boolean("GATEWAY_ADMIN").pipe(Config.withDefault(defaults.admin)),
  orders: Config.all({
    maxIdempotencyIds: between("ORDER_IDS_MAX", 1, 10_000_000, defaults.orders.maxIdempotencyIds)
  }),
  simulated: Config.all({
    seed: between("SIM_SEED", 0, 2 ** 31 - 1, defaults.simulated.seed),
    resetTimeout: positiveDuration("SIM_RESET_TIMEOUT", defaults.simulated.resetTimeout),
    timeout: positiveDuration("SIM_TIMEOUT", defaults.simulated.timeout)
  }),
  demoTraffic: between("DEMO_TRAFFIC", 0, 1000, defaults.demoTraffic, false),
  marketDataPolicy: Config.all({
    hedgeDelay: Config.string("MARKET_DATA_HEDGE_DELAY").pipe(
      Config.withDefault("p95"),
      Config.mapOrFail((text) => {
        const percentile = /^p(\d{1,2}(?:\.\d+)?)$/.exec(text.trim())
        if (percentile !== null && Number(percentile[1]) > 0 && Number(percentile[1]) < 100) {
          return Either.right<Duration.Duration | { readonly percentile: number }>({
            percentile: Number(percentile[1])
          })
        }
        const duration = Duration.decodeUnknown(text.trim())
        return Option.isSome(duration) && Duration.isFinite(duration.value)
          ? Either.right(duration.value)
          : Either.left(
            ConfigError.InvalidData(
              ["MARKET_DATA_HEDGE_DELAY"],
              "must be a duration such as \"200 millis\" or a percentile such as p95"
            )
          )
      })
    ),
    maxHedgedAttempts: between("MARKET_DATA_HEDGE_MAX", 0, 10, defaults.marketDataPolicy.maxHedgedAttempts),
    staleQuoteMaxAge: positiveDuration("STALE_QUOTE_MAX_AGE", defaults.marketDataPolicy.staleQuoteMaxAge)
  }),
  server: Config.all({
    maxBodyBytes: between("MAX_BODY_BYTES", 1, 64 * 1024 * 1024, defaults.server.maxBodyBytes),
    maxJsonDepth: between("MAX_JSON_DEPTH", 1, 1000, defaults.server.maxJsonDepth),
    requestTimeout: positiveDuration("REQUEST_TIMEOUT", defaults.server.requestTimeout),
    maxHeaderBytes: between("MAX_HEADER_BYTES", 1024, 1024 * 1024, defaults.server.maxHeaderBytes),
    maxEventStreams: between("SSE_MAX_STREAMS", 0, 100_000, defaults.server.maxEventStreams),
    maxEventStreamsPerClient: between(
      "SSE_MAX_STREAMS_PER_CLIENT",
      0,
      100_000,
      defaults.server.maxEventStreamsPerClient
    )
  }),
  telemetry: Config.all({
    otlpEndpoint: Config.option(
      Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
        check(
          "OTEL_EXPORTER_OTLP_ENDPOINT",
          "must be an http:// or https:// URL",
          (s: string) => /^https?:\/\/\S+$/.test(s)
        )
      )
    ),
    metricExportIntervalMillis: between(
      "OTEL_METRIC_EXPORT_INTERVAL",
      1,
      86_400_000,
      defaults.telemetry.metricExportIntervalMillis
    ),
    serviceName: Config.string("OTEL_SERVICE_NAME").pipe(
      Config.withDefault(defaults.telemetry.serviceName),
      check("OTEL_SERVICE_NAME", "must not be empty", (s: string) => s.trim().length > 0)
    )
  })
})

/**
 * Every problem in a `ConfigError`, one line each, led by the variable's name:
 * `PORT: Expected an integer value but received abc`.
 *
 * @since 0.1.0
 * @category errors
 */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const walk = (e: ConfigError.ConfigError): void => {
    if (ConfigError.isAnd(e) || ConfigError.isOr(e)) {
      walk(e.left)
      walk(e.right)
      return
    }
    lines.push(`${e.path.length === 0 ? "(config)" : e.path.join("_")}: ${e.message}`)
  }
  walk(error)
  return [...new Set(lines)]
}

/**
 * The start-up failure text for a cause, when it is a configuration error
 * (`ConfigError`, or any tagged error whose message names a key, such as
 * `ResilienceConfigError`); `None` otherwise.
 *
 * @since 0.1.0
 * @category errors
 */
export const formatError = (cause: Cause.Cause<unknown>): Option.Option<string> => {
  for (const error of Cause.failures(cause)) {
    if (ConfigError.isConfigError(error)) {
      return Option.some(`Invalid gateway configuration:\n  ${describeConfigError(error).join("\n  ")}`)
    }
    if (typeof error === "object" && error !== null && "_tag" in error) {
      const tag = (error as { _tag: unknown })._tag
      if (tag === "ResilienceConfigError" || tag === "InvalidOptionsError") {
        return Option.some(
          `Invalid gateway configuration:\n  ${String((error as unknown as { message: unknown }).message)}`
        )
      }
    }
  }
  return Option.none()
}
