/**
 * A `RateLimiterStore` on Redis: every instance of a fleet shares one set of
 * token buckets, so a limit is a limit for the whole fleet, not per process.
 *
 * Reach for it when more than one process enforces the same limit (an API
 * behind a load balancer, workers sharing a provider's quota). Provide it in
 * place of `RateLimiterStore.layerMemory` and `RateLimiter` works unchanged.
 *
 * - One round trip per decision: a Lua script (EVALSHA; reloaded with EVAL
 *   after a `NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`) decides every
 *   bucket of a call at once, all-or-nothing, on the Redis server's clock
 *   (`TIME`), so instances with skewed clocks still agree. Decisions issued
 *   together (many fibers on one connection) share one script run.
 * - Needs Redis 6.0 or later.
 * - One string key per bucket (`${prefix}{tag}…`, the GCRA "full again at"
 *   time) with a TTL of the time until the bucket is full again: idle keys
 *   disappear by themselves.
 * - Hash-tagged keys: all keys of one decision share a hash slot, so the
 *   script runs on Redis Cluster (see the README for the layout).
 * - When Redis is down or slower than `timeout`, decisions come from the
 *   configured failure mode (`onError`), with a warning log on the transition,
 *   an info log on recovery, and metrics; Redis is probed in the background
 *   of the traffic and decisions return to it by themselves.
 *
 * @since 0.1.0
 */
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { ClusterOptions, RedisOptions } from "ioredis"
import * as internal from "./internal/redisStore.js"

/**
 * What a decision does when Redis cannot make it (down, unreachable, slower
 * than `timeout`, or a script error):
 *
 * - `"fallback-memory"`: decide with a local in-memory store (core's
 *   `RateLimiterStore.makeMemory`) over the same buckets. Each instance then
 *   limits on its own, so a fleet of N admits up to N times the limit while
 *   Redis is away, but no single instance is unprotected.
 * - `"fail-open"`: admit every call (availability first).
 * - `"fail-closed"`: reject every call, with `retryAfterMillis` = the probe
 *   interval (protection first).
 * - `"fail"`: fail the decision with `RateLimiterStoreError` and let the caller
 *   choose.
 *
 * @since 0.1.0
 * @category models
 */
export type FailureMode = "fail-open" | "fail-closed" | "fallback-memory" | "fail"

/**
 * Where a Redis Cluster is: some of its nodes (`redis://[user:password@]host:port`),
 * from which the client discovers the rest, and ioredis Cluster options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterConnection {
  /** Startup nodes; one reachable master or replica is enough. At least one. */
  readonly nodes: ReadonlyArray<string | Redacted.Redacted<string>>
  /**
   * More ioredis Cluster options (`redisOptions` for every node: TLS,
   * password…; `natMap`, `scaleReads` is ignored: the script writes). The store
   * always overrides `enableOfflineQueue` (false), `lazyConnect`,
   * `retryDelayOnFailover` and `retryDelayOnClusterDown` (0: no delayed replay)
   * and, per node, `maxRetriesPerRequest` (0) and `autoResendUnfulfilledCommands`
   * (false).
   */
  readonly options?: ClusterOptions | undefined
}

/**
 * Options of the Redis store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Where Redis is: `redis://[user:password@]host:port[/db]` or `rediss://` for
   * TLS. Without it, `redisOptions` (or ioredis' default, 127.0.0.1:6379).
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /**
   * More ioredis options (TLS, password, db, `retryStrategy`, …). The store
   * always overrides `enableOfflineQueue` (false), `maxRetriesPerRequest` (0),
   * `autoResendUnfulfilledCommands` (false) and `lazyConnect`, so that a call
   * fails within its budget instead of queueing.
   */
  readonly redisOptions?: RedisOptions | undefined
  /**
   * Connect to a Redis Cluster instead of one server (then `url` and
   * `redisOptions` must be absent). Keys are hash-tagged, so every decision's
   * keys are in one slot; distinct client keys spread over the masters.
   */
  readonly cluster?: ClusterConnection | undefined
  /**
   * Prepended to every key; no `{` or `}`.
   *
   * @default "effect-resilience:rl:"
   */
  readonly prefix?: string | undefined
  /**
   * The budget of one decision: a reply slower than this counts as a failure
   * and the failure mode answers instead. Keep it well above the round trip
   * under load: the default is chosen from a measurement (a healthy local
   * Redis under `pnpm chaos` load, gateway and clients in one process on a
   * busy 2-core machine: decisions p99 ~70 ms, max ~330 ms; at 50 ms that
   * load reported false degraded episodes). Time the event loop is stalled
   * does not count against it (see the README).
   *
   * @default 500 millis
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * What a decision does when Redis cannot make it (see `FailureMode`).
   *
   * @default "fallback-memory"
   */
  readonly onError?: FailureMode | undefined
  /**
   * How long `make` waits for the first connection. A Redis that is not there
   * by then is not an error: the store starts degraded and connects later.
   *
   * @default 1 second
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * While degraded, how often one decision tries Redis again (the others use
   * the failure mode without waiting).
   *
   * @default 500 millis
   */
  readonly probeInterval?: Duration.DurationInput | undefined
  /** Options of the local store `"fallback-memory"` uses. */
  readonly fallback?: RateLimiterStore.MemoryOptions | undefined
  /**
   * Decisions issued while others are in flight (many callers on the one
   * connection) gather into batches that one script run decides, in order:
   * one command instead of one each. A batch leaves once the current tick is
   * done, or as soon as it holds this many decisions, so Redis works on one
   * batch while the next gathers. 1 sends every decision on its own (for a
   * proxy that cannot run a script over keys of several hash slots). Always 1
   * on a Cluster, where one script may only touch one slot. At most 1,000.
   *
   * @default 16
   */
  readonly maxBatchSize?: number | undefined
}

/**
 * The options `layerConfig` reads from `Config`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions {
  readonly url: Redacted.Redacted<string>
  /** Startup nodes of a Redis Cluster; when not empty, used instead of `url`. */
  readonly clusterNodes?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  readonly prefix: string
  readonly timeout: Duration.Duration
  readonly onError: FailureMode
}

/**
 * The default prefix of every key.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = internal.DEFAULT_PREFIX

/**
 * Opens a connection (closed when the scope closes) and returns the store.
 * Fails only on invalid options; a Redis that is down is handled by `onError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options | undefined
) => Effect.Effect<RateLimiterStore.Service, InvalidOptionsError, Scope.Scope> = internal.make

/**
 * `RateLimiterStore` on Redis (see `make`).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { RedisRateLimiterStore } from "@effect-resilience/redis"
 *
 * const Store = RedisRateLimiterStore.layer({ url: "redis://127.0.0.1:6379", onError: "fallback-memory" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options | undefined
): Layer.Layer<RateLimiterStore.RateLimiterStore, InvalidOptionsError> =>
  Layer.scoped(RateLimiterStore.RateLimiterStore, internal.make(options))

/**
 * The `Config` `layerConfig` reads by default, under `RATE_LIMITER_REDIS_`:
 * `URL` (default `redis://127.0.0.1:6379`), `CLUSTER_NODES` (comma-separated
 * `redis://host:port` of a Redis Cluster, used instead of `URL` when set), `PREFIX` (default
 * `effect-resilience:rl:`), `TIMEOUT` (a duration such as `500 millis`, the
 * default) and `ON_ERROR` (`fail-open`, `fail-closed`, `fallback-memory`, the
 * default, or `fail`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<ConfigOptions> = Config.nested(
  Config.all({
    url: Config.redacted("URL").pipe(Config.withDefault(Redacted.make("redis://127.0.0.1:6379"))),
    clusterNodes: Config.redacted("CLUSTER_NODES").pipe(
      Config.withDefault(Redacted.make("")),
      Config.map((nodes) =>
        Redacted.value(nodes).split(",").map((node) => node.trim()).filter((node) => node.length > 0).map((node) =>
          Redacted.make(node)
        )
      )
    ),
    prefix: Config.string("PREFIX").pipe(Config.withDefault(internal.DEFAULT_PREFIX)),
    timeout: Config.duration("TIMEOUT").pipe(Config.withDefault(Duration.millis(500))),
    onError: Config.literal("fail-open", "fail-closed", "fallback-memory", "fail")("ON_ERROR").pipe(
      Config.withDefault<FailureMode>("fallback-memory")
    )
  }),
  "RATE_LIMITER_REDIS"
)

/**
 * `RateLimiterStore` on Redis, configured from `Config` (by default `config`:
 * environment variables `RATE_LIMITER_REDIS_URL` or `_CLUSTER_NODES`, `_PREFIX`,
 * `_TIMEOUT`, `_ON_ERROR`). Cluster options (`cluster.options`) can be passed
 * beside the node list; a `cluster` passed beside it is used when the
 * configuration has no `CLUSTER_NODES`. Options that are not configuration (ioredis options, the
 * fallback's bounds) can be passed beside it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  configOptions: Config.Config.Wrap<ConfigOptions> = config,
  options?: Omit<Options, keyof ConfigOptions> | undefined
): Layer.Layer<RateLimiterStore.RateLimiterStore, InvalidOptionsError | ConfigError.ConfigError> =>
  Layer.scoped(
    RateLimiterStore.RateLimiterStore,
    Effect.flatMap(Config.unwrap(configOptions), ({ clusterNodes, url, ...configured }) => {
      const cluster = clusterNodes !== undefined && clusterNodes.length > 0
        ? { nodes: clusterNodes, options: options?.cluster?.options }
        : options?.cluster
      // A cluster replaces the single-node URL (which has a default).
      return internal.make(
        cluster === undefined ? { ...options, ...configured, url } : {
          ...options,
          ...configured,
          cluster
        }
      )
    })
  )

/**
 * `resilience_rate_limiter_store_errors_total`: failed store calls, labelled
 * `policy="rate_limiter_store"`, `service` (the key prefix), `operation`
 * (empty), `store="redis"` and `reason` (`timeout`, `connection`, `script`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const storeErrors: Metric.Metric.Counter<number> = internal.storeErrors

/**
 * `resilience_rate_limiter_store_degraded`, labelled `policy`, `service`,
 * `operation` and `store`: 1 while decisions come from the failure mode
 * instead of Redis, 0 otherwise.
 *
 * @since 0.1.0
 * @category metrics
 */
export const degraded: Metric.Metric.Gauge<number> = internal.degradedGauge

/**
 * `resilience_rate_limiter_store_fallback_decisions_total`: decisions made by
 * the failure mode instead of Redis, labelled `policy`, `service`,
 * `operation`, `store` and `mode`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbackDecisions: Metric.Metric.Counter<number> = internal.fallbackDecisions
